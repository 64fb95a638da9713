"""The practical limit for `uvqc check`: parse each JSON line and dump it again, nothing else."""

import json
import sys


def main() -> None:
    out = sys.stdout.write
    dumps = json.dumps
    loads = json.loads
    for line in sys.stdin.buffer:
        out(dumps(loads(line)) + "\n")


if __name__ == "__main__":
    main()
