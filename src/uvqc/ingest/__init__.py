"""Instrument files in: vendor exports (CSV, text, JCAMP-DX, XLSX) to result messages.

`detect.read` turns a file's bytes into a ParsedFile (one reader per format, see
`formats/`); `results.to_messages` turns that into intake messages; `naming` maps sample
names to sample types and QC fields. docs/INGEST.md describes each format and its quirks.
"""

from uvqc.ingest.detect import FORMATS, read
from uvqc.ingest.model import ParsedFile, Reading, Refused, SampleRefusal, Scan

__all__ = ["FORMATS", "ParsedFile", "Reading", "Refused", "SampleRefusal", "Scan", "read"]
