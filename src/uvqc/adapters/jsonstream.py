"""Result messages from one byte stream, whatever its shape, in bounded memory.

Shapes: JSON Lines (one message per line), a JSON array of messages, one JSON object
(pretty-printed or not), or several JSON documents one after another. Arrays and documents
are parsed by ijson (yajl, in C) one element at a time, so memory stays flat for every
shape. Encodings: UTF-8 with or without a byte order mark, UTF-16/UTF-32 with a byte order
mark (or UTF-16 recognised by its zero bytes), gzip-compressed or not (recognised by its
magic number, whatever the file is called).

A broken JSON Lines line is a reject of that line only. A broken document is ONE reject
naming the position (`line:column`): the elements before it were read, nothing after it
(nothing after a syntax error can be told apart unambiguously).
"""

from __future__ import annotations

import codecs
import gzip
import io
import json
import os
import re
import tempfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO, Any, BinaryIO, NamedTuple, cast

from uvqc.core.models import MAX_PAYLOAD_BYTES

# How far ahead the shape is looked for: JSON Lines whose first lines are broken are still
# recognised when a whole object stands on a line within this window (held in memory).
LOOKAHEAD_BYTES = 1 << 20
LOOKAHEAD_LINES = 1000
# ijson's read size; a document error without a re-readable source is located to a chunk.
CHUNK = 64 * 1024
# A reject of a broken document keeps at most this much of the text before the error.
ERROR_RAW_BYTES = 16 * 1024

_GZIP_MAGIC = b"\x1f\x8b"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Documents nested deeper than this are refused before ijson sees them: its C parser builds
# a path string per level (memory grows with the square of the depth) and json.dumps
# recurses. Results are a few levels deep; pydantic's own JSON parser stops at 200.
MAX_DEPTH = 128
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_ESCAPED = re.compile(rb"\\.", re.DOTALL)
# A \uD800-\uDFFF escape not part of a pair: yajl would silently turn it into "?".
_LONE_SURROGATE = re.compile(
    rb"(?<!\\)(?:\\\\)*(\\u[dD][89abAB][0-9a-fA-F]{2})(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})(?<!\\)(?:\\\\)*(\\u[dD][c-fC-F][0-9a-fA-F]{2})"
)


class Item(NamedTuple):
    """One message read from an input: its source (`file:line`, `file[n]`, `file#n`,
    `file`), its raw bytes, and `error` when the reader itself refuses this part of the
    input (a broken document, an undecodable file): then `raw` is the text before the
    error (at most 16 KiB) and the item is a reject."""

    source: str
    raw: bytes
    error: str | None = None


class ReadError(Exception):
    """The input cannot be decoded (bad gzip data, bad UTF-16)."""


# --- decoding ----------------------------------------------------------------------------


class _Transcoder(io.RawIOBase):
    """UTF-16/UTF-32 text as a stream of UTF-8 bytes (decoded incrementally)."""

    def __init__(self, stream: BinaryIO, encoding: str) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder(encoding)()
        self._encoding = encoding
        self._pending = b""
        self._done = False
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._done:
            data = self._stream.read(CHUNK)
            try:
                text = self._decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                raise ReadError(
                    f"not valid {self._encoding.upper()} text near byte {self._offset + exc.start}"
                ) from None
            self._offset += len(data)
            self._done = not data
            self._pending = text.encode("utf-8", "surrogatepass")
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


class _Gunzip(io.RawIOBase):
    """gzip data as a stream; a corrupt or truncated file is a ReadError, not a crash."""

    def __init__(self, stream: BinaryIO) -> None:
        self._file = gzip.GzipFile(fileobj=stream, mode="rb")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return self._file.readinto(buffer)
        except (OSError, EOFError, zlib.error) as exc:
            raise ReadError(f"gzip data is corrupt or truncated ({exc})") from None


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 written without a byte order mark: every other byte of ASCII text is zero."""
    if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0] and head[2]:
        return "utf-16-le"
    if len(head) >= 4 and head[0] == 0 and head[2] == 0 and head[1] and head[3]:
        return "utf-16-be"
    return None


def decoded(stream: BinaryIO) -> io.BufferedReader:
    """`stream` as UTF-8 bytes without a byte order mark: gunzipped, transcoded."""
    reader: io.BufferedReader = (
        stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(cast(Any, stream))
    )
    if reader.peek(2)[:2] == _GZIP_MAGIC:
        reader = io.BufferedReader(_Gunzip(reader), CHUNK)
    head = reader.peek(4)[:4]
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            if encoding == "utf-8-sig":
                reader.read(len(bom))
                return reader
            return io.BufferedReader(_Transcoder(reader, encoding), CHUNK)
    guessed = _utf16_without_bom(head)
    if guessed is not None:
        return io.BufferedReader(_Transcoder(reader, guessed), CHUNK)
    return reader


# --- shapes ------------------------------------------------------------------------------


def _is_json(text: bytes) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


_LIMIT = MAX_PAYLOAD_BYTES + 2  # a line this long without its end is an oversized message


def _oversized(stream: io.BufferedReader, name: str, no: int, line: bytes) -> Item:
    """A line over the payload limit: the rest of it is skipped, not kept in memory."""
    size = len(line)
    while True:
        more = stream.readline(CHUNK)
        size += len(more.rstrip(b"\r\n"))
        if not more or more.endswith(b"\n"):
            break
    return Item(
        f"{name}:{no}", line, f"payload is {size} bytes, over the {MAX_PAYLOAD_BYTES} limit"
    )


def iter_stream(
    stream: BinaryIO, name: str, reopen: Callable[[], io.BufferedReader] | None = None
) -> Iterator[Item]:
    """Every message of one stream, in order. `reopen` (a fresh decoded stream of the same
    input) lets a document error be located exactly; without it, to within 64 KiB."""
    try:
        reader = decoded(stream)
        yield from _iter_decoded(reader, name, reopen)
    except ReadError as exc:
        yield Item(name, b"", f"{name} cannot be read: {exc}")


def _iter_decoded(
    reader: io.BufferedReader, name: str, reopen: Callable[[], io.BufferedReader] | None
) -> Iterator[Item]:
    # Look ahead (bounded) to tell JSON Lines from a document.
    lines: list[bytes] = []
    used = 0
    first = -1  # index of the first non-blank line
    shape = "document"
    while used < LOOKAHEAD_BYTES and len(lines) < LOOKAHEAD_LINES:
        line = reader.readline(_LIMIT)
        if not line:
            break
        lines.append(line)
        used += len(line)
        stripped = line.strip()
        if not stripped:
            continue
        cut = len(line) == _LIMIT and not line.endswith(b"\n")
        if first < 0:
            first = len(lines) - 1
            if stripped in (b"{", b"[") or stripped.startswith(b"[") or cut:
                # an array, the opening of a pretty-printed object, or one long line
                # (documents one after another): a document
                break
            if _is_json(stripped):
                shape = "lines"
                break
            continue
        if cut:
            break
        # The first line is broken, or opens a pretty-printed document: a whole object
        # standing on a later line, not indented, says JSON Lines.
        if line[:1] == b"{" and _is_json(stripped):
            shape = "lines"
            break
    if first < 0:
        return  # nothing but blank lines
    if shape == "lines":
        for no, line in enumerate(lines, 1):
            stripped = line.strip()
            if stripped:
                yield Item(f"{name}:{no}", stripped)
        no = len(lines)
        readline = reader.readline
        while True:  # the hot loop of JSON Lines: kept small
            line = readline(_LIMIT)
            if not line:
                return
            no += 1
            if len(line) == _LIMIT and line[-1:] != b"\n":
                yield _oversized(reader, name, no, line)
                continue
            stripped = line.strip()
            if stripped:
                yield Item(f"{name}:{no}", stripped)
    head = b"".join(lines)
    if reopen is not None:
        yield from _iter_document(_Feed(head, reader), head.lstrip()[:1], name, reopen)
        return
    # stdin or a pipe cannot be read twice: what the parser reads is copied to a temporary
    # file (disk, not memory), so an error can still be located to its line and column
    with tempfile.TemporaryFile() as spool:
        feed = _Feed(head, reader, spool)
        yield from _iter_document(feed, head.lstrip()[:1], name, _replay(spool))


class _Feed:
    """What ijson reads: the looked-ahead bytes, then the rest. Counts what it hands out
    (to locate an error without re-reading) and keeps lone surrogate escapes visible: yajl
    would turn `\\ud800` into "?" without a word, so each becomes `\\u0000\\u0001d800`
    here and is restored when the element is written back (`_dump`): the validator then
    rejects that element, as it would the same line of a JSON Lines file."""

    def __init__(
        self, head: bytes, rest: io.BufferedReader, spool: IO[bytes] | None = None
    ) -> None:
        self._head = head
        self._rest = rest
        self._spool = spool
        self._carry = b""
        self.consumed = 0
        self.lines_before_chunk = 0
        self.lines = 0
        self.kept = b""  # the text before the current position, at most ERROR_RAW_BYTES
        self._in_string = False
        self._open = b""  # the brackets still open, outermost first

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        while True:
            if self._head:
                n = len(self._head) if size < 0 else size
                chunk, self._head = self._head[:n], self._head[n:]
            else:
                chunk = self._rest.read(size)
            data = self._carry + chunk
            self._carry = b""
            if chunk and b"\\" in data[-12:]:
                # an escape may go on in the next chunk: keep it back (whole pairs together)
                cut = max(0, len(data) - 12) + data[-12:].index(b"\\")
                data, self._carry = data[:cut], data[cut:]
            if data or not chunk:
                break
        if self._spool is not None:
            self._spool.write(data)
        if b"\\u" in data:
            data = _LONE_SURROGATE.sub(_mark_surrogate, data)
        self._check_depth(data)
        self.lines_before_chunk = self.lines
        self.consumed += len(data)
        self.lines += data.count(b"\n")
        self.kept = (self.kept + data)[-ERROR_RAW_BYTES:]
        return data

    def _check_depth(self, data: bytes) -> None:
        """Refuse nesting deeper than MAX_DEPTH, at C speed: drop escapes and strings, keep
        the brackets, and remove innermost pairs round by round (a part nested d deep needs
        d rounds). A carried escape never splits: `read` keeps escapes whole."""
        parts = _ESCAPED.sub(b"", data).split(b'"')
        outside = b"".join(parts[1::2] if self._in_string else parts[0::2])
        if len(parts) % 2 == 0:  # an odd number of quotes: in a string <-> out of one
            self._in_string = not self._in_string
        brackets = self._open + outside.translate(None, _NOT_BRACKETS)
        rounds = 0
        while True:
            reduced = brackets.replace(b"[]", b"").replace(b"{}", b"")
            if reduced == brackets:
                break
            brackets = reduced
            rounds += 1
            if len(self._open) + rounds > MAX_DEPTH:
                break
        # what is left: closers of brackets opened earlier, then the brackets still open
        self._open = brackets.lstrip(b"]}")
        if len(self._open) + rounds > MAX_DEPTH:
            raise ReadError(f"nested deeper than {MAX_DEPTH} levels: not a result")


def _replay(spool: IO[bytes]) -> Callable[[], io.BufferedReader]:
    """A reader of what was spooled so far, from its start (the spool stays open)."""

    def reopen() -> io.BufferedReader:
        spool.flush()
        again = open(os.dup(spool.fileno()), "rb")  # noqa: SIM115, PTH123 - closed by the caller
        again.seek(0)
        return again

    return reopen


_MARK = b"\\u0000\\u0001"


def _mark_surrogate(match: re.Match[bytes]) -> bytes:
    escape = match.group(1) or match.group(2)
    start = (match.start(1) if match.group(1) else match.start(2)) - match.start()
    return match.group(0)[:start] + _MARK + escape[2:]


class _Pairs(dict[str, Any]):
    """A JSON object that keeps every (key, value) pair: json.dumps writes it back with its
    duplicate keys (the C encoder calls `items()` of a dict subclass), so the validator
    sees and rejects them."""

    __slots__ = ("_pairs",)

    def __init__(self) -> None:
        super().__init__()
        self._pairs: list[tuple[str, Any]] = []

    def __setitem__(self, key: str, value: Any) -> None:
        self._pairs.append((key, value))
        dict.__setitem__(self, key, value)

    def items(self) -> Any:
        return self._pairs


_encode = json.JSONEncoder(ensure_ascii=False, default=float).encode


def _dump(value: Any) -> bytes:
    # Numbers come as Decimal (exact; `default=float` writes them, 1e400 as Infinity, which
    # the validator rejects); a marked lone surrogate escape is restored (see _Feed).
    raw = _encode(value).encode("utf-8", "surrogatepass")
    return raw.replace(_MARK, b"\\u") if _MARK in raw else raw


def _item(source: str, value: Any) -> Item:
    try:
        return Item(source, _dump(value))
    except RecursionError:  # below MAX_DEPTH this does not happen; never a crash if it does
        return Item(source, b"", "nested too deeply to be read: not a result")


def _iter_document(
    feed: _Feed, opener: bytes, name: str, reopen: Callable[[], io.BufferedReader] | None
) -> Iterator[Item]:
    import ijson  # only when a file holds documents: keeps `uvqc check` on JSON Lines lean

    count = 0
    try:
        if opener == b"[":
            for count, element in enumerate(
                ijson.items(feed, "item", map_type=_Pairs, buf_size=CHUNK), 1
            ):
                yield _item(f"{name}[{count}]", element)
        else:
            pending: Item | None = None
            for count, document in enumerate(
                ijson.items(feed, "", multiple_values=True, map_type=_Pairs, buf_size=CHUNK),
                1,
            ):
                if pending is not None:
                    yield pending if count > 2 else pending._replace(source=f"{name}#1")
                pending = _item(f"{name}#{count}", document)
            if pending is not None:
                yield pending if count > 1 else pending._replace(source=name)
    except (ijson.JSONError, ReadError) as exc:
        yield _document_error(feed, name, reopen, exc, count)


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.removeprefix("parse error: ").removeprefix("lexical error: ").rstrip(".")


def _document_error(
    feed: _Feed,
    name: str,
    reopen: Callable[[], io.BufferedReader] | None,
    exc: Exception,
    count: int,
) -> Item:
    reason = _reason(exc)
    position = _locate(reopen) if reopen is not None and not isinstance(exc, ReadError) else None
    if position is not None:
        line, column = position
        where, source = f"line {line} column {column}", f"{name}:{line}:{column}"
    else:
        first = feed.lines_before_chunk + 1
        last = feed.lines + 1
        where = f"line {first}" if first == last else f"lines {first}-{last}"
        source = f"{name}:{first}"
    done = (
        f"the {count} result(s) before it were read, nothing after it"
        if count
        else "nothing in it was read"
    )
    what = "cannot be read" if isinstance(exc, ReadError) else "is not valid JSON"
    return Item(source, feed.kept, f"{name} {what} at {where} ({reason}): {done}")


_AT = re.compile(r" at (\d+)$")


def _locate(reopen: Callable[[], io.BufferedReader]) -> tuple[int, int] | None:
    """The line and column (1-based) where ijson's pure-Python parser, which counts
    characters, stops on the same input: read again, in bounded memory."""
    import ijson
    import ijson.backends.python as slow

    offset: int | None = None
    try:
        with reopen() as again:
            head = again.peek(1)[:1]
            prefix = "item" if head == b"[" else ""
            for _ in slow.items(again, prefix, multiple_values=prefix == ""):
                pass
    except (ijson.JSONError, ReadError, ValueError) as exc:
        match = _AT.search(str(exc))
        offset = int(match.group(1)) if match else -1
    if offset is None:
        return None
    line, column, seen = 1, 1, 0
    with reopen() as again:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while offset < 0 or seen < offset:
            data = again.read(CHUNK)
            text = decoder.decode(data, final=not data)
            if not text:
                break
            part = text if offset < 0 else text[: offset - seen]
            newlines = part.count("\n")
            if newlines:
                line += newlines
                column = len(part) - part.rfind("\n")
            else:
                column += len(part)
            seen += len(part)
            if not data:
                break
    return line, column
