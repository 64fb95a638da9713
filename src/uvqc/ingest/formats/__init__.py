"""One reader per instrument export format; each has `NAME`, `sniff(text)` and
`parse(text, stem)` returning a ParsedFile (or raising Refused)."""
