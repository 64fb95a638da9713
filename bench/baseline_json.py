"""The practical limit for `uvqc check`: parse each JSON line and dump it again, nothing else.

`--orjson`: the fastest parse+dump loop available (orjson, Rust); without it the stdlib
`json` loop, kept as a second reference."""

import sys


def main() -> None:
    if "--orjson" in sys.argv:
        import orjson

        out_b = sys.stdout.buffer.write
        dumps_b, loads_b = orjson.dumps, orjson.loads
        for line in sys.stdin.buffer:
            out_b(dumps_b(loads_b(line)) + b"\n")
        return
    import json

    out = sys.stdout.write
    dumps = json.dumps
    loads = json.loads
    for line in sys.stdin.buffer:
        out(dumps(loads(line)) + "\n")


if __name__ == "__main__":
    main()
