"""The digest function, measured: cold import, first invocation (wiring, runs-table reads,
figures, compose, SMTP send), a warm invocation, and the process's peak RSS, against moto
and a local SMTP relay, on one run with a Westgard violation (seven charted runs of one
method and instrument). And the check and notify handler modules: import time and peak RSS
on this tree against `main` (git archive), paired and interleaved, to show the digest work
left them as they were. Median of ROUNDS with the spread (min-max).

    .venv/bin/python -m bench.digest_bench [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import tarfile
import tempfile
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from bench.common import PYTHON, ROOT, run_measured, save
from tests.aws.conftest import make_ledger_table, make_runs_table
from tests.embedded.test_control_charts import ESTABLISH, METHOD, REJECT, WARN, run_lines
from tests.support.relay import FaultyRelay

REGION = "eu-west-1"
HANDLERS = ("uvqc.aws.check_handler", "uvqc.aws.notify_handler")
KEYS = ("import_s", "cold_invoke_s", "warm_invoke_s")
KEYS += ("import_cpu_s", "cold_invoke_cpu_s", "warm_invoke_cpu_s")  # process CPU time


def digest_requests(db: Any, table: str, method: Path) -> list[str]:
    """Seven charted runs through the DynamoDB run store; the digests of the last two (a
    1-3s rejection and a 1-2s warning), as queued."""
    from uvqc.adapters.dynamodb_runs import DynamoRunStore
    from uvqc.core.engine import judge
    from uvqc.core.methods import MethodBook
    from uvqc.pipeline.records import ResultRecord
    from uvqc.runs.notices import arrival_for

    book = MethodBook.from_paths([method])
    store = DynamoRunStore(db, table, book)
    now = datetime.now(UTC)
    bodies: list[str] = []
    for i, recoveries in enumerate([*ESTABLISH, REJECT, WARN]):
        arrivals = []
        for n, line in enumerate(run_lines(i, recoveries)):
            judgement, message = judge(line.decode(), book)
            record = ResultRecord.create(
                record_id=f"r-{i}-{n}",
                judgement=judgement,
                raw=line.decode(),
                received_at=now,
                checked_at=now,
            )
            arrival = arrival_for(message, record, book)
            assert arrival is not None
            arrivals.append(arrival)
        notices = store.track(arrivals, now=now + timedelta(minutes=i))
        store.confirm(notices)
        bodies += [n.to_json() for n in notices if (n.run or {}).get("kind") == "digest"]
    return bodies[-2:]


def main_tree(tmp: Path) -> Path:
    """`main`'s src/ as committed (git archive), to import its handlers."""
    data = subprocess.run(
        ["git", "archive", "main", "src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(tmp / "main", filter="data")
    return tmp / "main" / "src"


def spread(values: list[float], scale: float = 1.0, digits: int = 0) -> dict[str, float]:
    return {
        "median": round(statistics.median(values) * scale, digits),
        "min": round(min(values) * scale, digits),
        "max": round(max(values) * scale, digits),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="2 rounds (a smoke run)")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 2
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("UVQC_", "AWS_", "MPL"))} | {
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }
    os.environ.update(base)
    db, sqs = boto3.client("dynamodb"), boto3.client("sqs")
    runs: dict[str, list[dict[str, Any]]] = {"digest": []}
    runs |= {f"{m}@{tree}": [] for m in HANDLERS for tree in ("branch", "main")}
    with tempfile.TemporaryDirectory() as scratch, FaultyRelay() as relay:
        tmp = Path(scratch)
        method = tmp / "charted.toml"
        method.write_text(METHOD)
        table = make_runs_table(db)
        bodies = digest_requests(db, table, method)
        dlq = sqs.create_queue(QueueName="digest-dlq")["QueueUrl"]
        queue = sqs.create_queue(QueueName="digest")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        events = tmp / "events.json"
        events.write_text(json.dumps({"bodies": bodies, "arn": arn["Attributes"]["QueueArn"]}))
        trees = {"branch": ROOT / "src", "main": main_tree(tmp)}
        rng = random.Random(11)
        for round_ in range(args.rounds):
            order = list(runs)
            rng.shuffle(order)  # interleaved: no kind always runs first or last
            for kind in order:
                out = tmp / f"{round_}-{kind}.json"
                if kind == "digest":
                    env = base | {
                        "UVQC_RUNS_TABLE": table,
                        "UVQC_LEDGER_TABLE": make_ledger_table(db),  # a fresh ledger: sends
                        "UVQC_DIGEST_DLQ_URL": dlq,
                        "UVQC_METHOD": str(method),
                        "UVQC_CHANNEL": "smtp",
                        "UVQC_SMTP_HOST": relay.host,
                        "UVQC_SMTP_PORT": str(relay.port),
                        "UVQC_MAIL_FROM": "uvqc@lab.example.org",
                        "UVQC_MAIL_TO": "lab@example.org",
                        "MPLCONFIGDIR": str(tmp / f"mpl-{round_}"),  # a cold container's /tmp
                    }
                    argv = [PYTHON, "-m", "bench.digest_child", "digest", str(events), str(out)]
                else:
                    module, tree = kind.split("@")
                    env = base | {"PYTHONPATH": str(trees[tree])}
                    argv = [PYTHON, "-m", "bench.digest_child", "import", module, str(out)]
                run = run_measured(argv, env=env, stdout=tmp / f"{kind}.log")
                if run.returncode != 0:
                    raise RuntimeError(f"{kind} failed: {(tmp / f'{kind}.log').read_text()}")
                runs[kind].append({**json.loads(out.read_text()), "rss_mb": run.peak_rss_mb})
        sent = len(relay.messages())
    server.stop()
    data: dict[str, Any] = {"rounds": args.rounds, "python": PYTHON, "digests_sent": sent}
    for kind, rows in runs.items():
        figures = {"peak_rss_mb": spread([r["rss_mb"] for r in rows])}
        for key in KEYS:
            if key in rows[0]:
                figures[key.removesuffix("_s") + "_ms"] = spread([r[key] for r in rows], 1000)
        data[kind] = figures
    save("digest", data)
    print(json.dumps(data, indent=2))


if __name__ == "__main__":
    main()


def render(data: dict[str, Any]) -> str:
    """The digest function's section of docs/PERFORMANCE.md."""

    def cell(part: str, key: str, unit: str) -> str:
        v = data[part][key]
        return f"{v['median']:.0f} {unit} ({v['min']:.0f}-{v['max']:.0f})"

    d = "digest"
    rows = [
        f"| peak RSS | {cell(d, 'peak_rss_mb', 'MB')} |",
        f"| import (CPU) | {cell(d, 'import_cpu_ms', 'ms')} |",
        f"| first invocation (CPU): wiring, reads, report, figures, compose, send | "
        f"{cell(d, 'cold_invoke_cpu_ms', 'ms')} |",
        f"| warm invocation (CPU) | {cell(d, 'warm_invoke_cpu_ms', 'ms')} |",
    ]
    for handler in HANDLERS:
        name = handler.rsplit(".", 1)[-1]
        rows.append(
            f"| `{name}` import, this tree / `main` | "
            f"{cell(f'{handler}@branch', 'import_ms', 'ms')} / "
            f"{cell(f'{handler}@main', 'import_ms', 'ms')} |"
        )
        rows.append(
            f"| `{name}` peak RSS, this tree / `main` | "
            f"{cell(f'{handler}@branch', 'peak_rss_mb', 'MB')} / "
            f"{cell(f'{handler}@main', 'peak_rss_mb', 'MB')} |"
        )
    return "\n".join(
        [
            "## Digest function (AWS)",
            "",
            "The run digest e-mail composed by the `digest` Lambda function's code, in a fresh "
            "process per round against moto and a local SMTP relay: one run with a Westgard "
            "violation among seven charted runs (`bench/digest_bench.py`; median of "
            f"{data['rounds']} rounds with the range; CPU time on this machine, not Graviton). "
            "Its memory (256 MB) and cost follow from these figures: docs/AWS.md, "
            '"Run digests on AWS". The check and notify handlers are measured alongside, '
            "paired with `main`, to show that digests left them as they were.",
            "",
            "| | median (range) |",
            "|---|---:|",
            *rows,
        ]
    )
