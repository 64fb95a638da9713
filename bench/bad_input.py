"""Bad-input figures: crafted malformed messages and hypothesis-generated ones, through the
validator, the check stage (with in-memory ports) and `uvqc check`; count what crashed."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.common import UVQC, save
from uvqc.core.engine import judge
from uvqc.core.methods import MethodBook
from uvqc.core.verdicts import Verdict
from uvqc.pipeline.check import Incoming, check_batch
from uvqc.pipeline.records import utcnow
from uvqc.testing import MemoryNotifyQueue, MemoryStore, MemoryWindows

BOOK = MethodBook()

CRAFTED: list[bytes] = [
    b"",
    b" ",
    b"null",
    b"true",
    b"0.45",
    b'"0.45"',
    b"[]",
    b"[{}]",
    b"{}",
    b"{",
    b"}",
    b'{"sampleId": "S1"}',
    b'{"absorbance": 0.4}',
    b'{"sampleId": "", "absorbance": 0.4}',
    b'{"sampleId": "   ", "absorbance": 0.4}',
    b'{"sampleId": null, "absorbance": 0.4}',
    b'{"sampleId": 42, "absorbance": 0.4}',
    b'{"sampleId": ["S1"], "absorbance": 0.4}',
    b'{"sampleId": "S1\\r\\nBcc: victim@example.com", "absorbance": 0.4}',
    b'{"sampleId": "S1\\n", "absorbance": 0.4}',
    b'{"sampleId": "S1\\u0000", "absorbance": 0.4}',
    b'{"sampleId": "S1\\u2028", "absorbance": 0.4}',
    b'{"sampleId": "S1", "batchId": "B\\r\\n", "absorbance": 0.4}',
    b'{"sampleId": "S1", "instrumentId": "I\\n", "absorbance": 0.4}',
    b'{"sampleId": "S1", "method": "m\\r", "absorbance": 0.4}',
    b'{"sampleId": "' + b"x" * 129 + b'", "absorbance": 0.4}',
    b'{"sampleId": "S1", "absorbance": "abc"}',
    b'{"sampleId": "S1", "absorbance": "NaN"}',
    b'{"sampleId": "S1", "absorbance": "Infinity"}',
    b'{"sampleId": "S1", "absorbance": "-inf"}',
    b'{"sampleId": "S1", "absorbance": NaN}',
    b'{"sampleId": "S1", "absorbance": Infinity}',
    b'{"sampleId": "S1", "absorbance": 1e999}',
    b'{"sampleId": "S1", "absorbance": true}',
    b'{"sampleId": "S1", "absorbance": false}',
    b'{"sampleId": "S1", "absorbance": null}',
    b'{"sampleId": "S1", "absorbance": [0.4]}',
    b'{"sampleId": "S1", "absorbance": {"v": 0.4}}',
    b'{"sampleId": "S1", "absorbanceResult": ""}',
    b'{"sampleId": "S1", "absorbance": 0.4, "absorbanceResult": "0.9"}',
    b'{"sampleId": "S1", "absorbance": 0.4, "sampleType": "soup"}',
    b'{"sampleId": "S1", "absorbance": 0.4, "measuredAt": "yesterday"}',
    b'{"sampleId": "S1", "absorbance": 0.4, "wavelengthNm": -5}',
    b'{"sampleId": "S1", "absorbance": 0.4, "dilutionFactor": 0}',
    b'{"sampleId": "S1", "absorbance": 0.4, "spectrum": {"wavelengthNm": [1, 2], '
    b'"absorbance": [0.1]}}',
    b'{"sampleId": "S1", "absorbance": 0.4, "spectrum": {"wavelengthNm": [], "absorbance": []}}',
    b'{"sampleId": "S1", "absorbance": 0.4, "spectrum": [1, 2]}',
    b'{"sampleId": "S1", "absorbance": 0.4, "method": "no-such-method"}',
    b"\xff\xfe\x00garbage",
    b'{"sampleId": "\xff", "absorbance": 0.4}',
    b"[" * 10000 + b"]" * 10000,
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
    b'{"sampleId": "S1", "absorbance": 0.4, "pad": "' + b"x" * (300 * 1024) + b'"}',
    b'{"sampleId": "S1", "absorbance": 0.4}{"sampleId": "S2", "absorbance": 0.4}',
    b'{"sampleId": "S1", "absorbance": 0.4,}',
    b"{'sampleId': 'S1', 'absorbance': 0.4}",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
message_like = st.fixed_dictionaries(
    {},
    optional={
        "sampleId": json_values,
        "absorbance": json_values,
        "absorbanceResult": json_values,
        "sampleType": json_values,
        "method": json_values,
        "spectrum": json_values,
        "measuredAt": json_values,
    },
)


def _judge_all(raws: list[bytes]) -> tuple[int, int, int]:
    crashes = rejected = 0
    for raw in raws:
        try:
            j, _ = judge(raw, BOOK)
        except Exception:
            crashes += 1
            continue
        rejected += j.verdict is Verdict.REJECT
    outcome = check_batch(
        [Incoming(f"m{i}", raw, utcnow()) for i, raw in enumerate(raws)],
        methods=BOOK,
        store=MemoryStore(),
        notify=MemoryNotifyQueue(),
        windows=MemoryWindows(),
    )
    if len(outcome.records) != len(raws) or outcome.failed:
        crashes += 1
    return len(raws), rejected, crashes


def generated(n: int) -> list[bytes]:
    raws: list[bytes] = []

    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        st.one_of(
            message_like.map(lambda d: json.dumps(d).encode()),
            st.binary(max_size=200),
            json_values.map(lambda v: json.dumps(v).encode()),
        )
    )
    def collect(raw: bytes) -> None:
        raws.append(raw)

    collect()
    return raws


def main(argv: list[str] | None = None) -> None:
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    # The check stage logs one line per result; thousands of rejects are not news here.
    logging.getLogger("uvqc").setLevel(logging.WARNING)
    crafted = _judge_all(CRAFTED)
    gen = generated(500 if quick else 5000)
    hypo = _judge_all(gen)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bad.jsonl"
        flat = [r.replace(b"\n", b" ").replace(b"\r", b" ") for r in CRAFTED + gen]
        lines = [line for line in flat if line.strip()]  # check skips blank lines by design
        path.write_bytes(b"\n".join(lines) + b"\n")
        proc = subprocess.run(
            [*UVQC, "check", "--format", "json", str(path)], capture_output=True, check=False
        )
        cli_out = len(proc.stdout.splitlines())
        cli_crash = proc.returncode not in (0, 1)
    save(
        "bad_input",
        {
            "crafted": {"tried": crafted[0], "rejected": crafted[1], "crashed": crafted[2]},
            "hypothesis": {"tried": hypo[0], "rejected": hypo[1], "crashed": hypo[2]},
            "cli": {
                "lines": len(lines),
                "results_written": cli_out,
                "exit_code": proc.returncode,
                "crashed": int(cli_crash),
            },
        },
    )
    print(
        f"bad input: crafted {crafted[0]} ({crafted[2]} crashed), generated {hypo[0]} "
        f"({hypo[2]} crashed); uvqc check wrote {cli_out} verdicts for {len(lines)} lines"
    )


if __name__ == "__main__":
    main()


def render(data: dict[str, Any]) -> str:
    c, h, cli = data["crafted"], data["hypothesis"], data["cli"]
    crashed = c["crashed"] + h["crashed"] + cli["crashed"]
    return "\n".join(
        [
            "## Bad input",
            "",
            "Every message went through the validator and judge, through the check stage "
            "(in-memory ports: it must record every message and fail none), and, as one JSON "
            "Lines file, through `uvqc check --format json` (it must write one verdict per "
            "non-blank line and exit 0 or 1).",
            "",
            "| source | tried | rejected | crashed |",
            "|---|---:|---:|---:|",
            f"| crafted malformed messages (`bench/bad_input.py` CRAFTED: not JSON, not an "
            f"object, CR/LF and control characters in identifiers, NaN/Infinity/text/booleans/"
            f"null absorbance, mismatched spectra, 300 KiB payloads, deep nesting, invalid "
            f"UTF-8, ...) | {c['tried']} | {c['rejected']} | {c['crashed']} |",
            f"| hypothesis-generated (arbitrary bytes, arbitrary JSON, message-shaped objects "
            f"with any JSON type in every field) | {h['tried']} | {h['rejected']} | "
            f"{h['crashed']} |",
            f"| `uvqc check` over all of them | {cli['lines']} lines | "
            f"{cli['results_written']} verdicts written | {cli['crashed']} |",
            "",
            f"Goal: 0 crashes. Measured: {crashed}: **{'met' if crashed == 0 else 'missed'}**. "
            "The test suite runs further property tests on every commit "
            "(`tests/core/test_properties.py`).",
        ]
    )
