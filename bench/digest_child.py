"""The measured process of bench.digest_bench: a cold digest function (or the check/notify
handler module alone). `digest`: imports uvqc.aws.digest_handler, invokes it on one digest
request (wiring, runs-table reads, figures, compose, SMTP send), then on a second one (warm),
and writes the timings to a JSON file. `import MODULE`: imports it and writes the time.
Peak RSS is read by the parent from wait4."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    kind = sys.argv[1]
    if kind == "import":
        module, out = sys.argv[2], Path(sys.argv[3])
        started = time.perf_counter()
        __import__(module)
        out.write_text(json.dumps({"import_s": time.perf_counter() - started}))
        return
    events, out = Path(sys.argv[2]), Path(sys.argv[3])
    started, cpu = time.perf_counter(), time.process_time()
    from uvqc.aws import digest_handler

    imported, imported_cpu = time.perf_counter(), time.process_time()
    from bench.lambda_child import sqs_record
    from tests.aws.esm import LambdaContext

    data = json.loads(events.read_text())
    timings: dict[str, float | bool] = {
        "import_s": imported - started,
        "import_cpu_s": imported_cpu - cpu,
    }
    for name, body in (("cold_invoke_s", data["bodies"][0]), ("warm_invoke_s", data["bodies"][1])):
        event = {"Records": [sqs_record(body, data["arn"])]}
        t, c = time.perf_counter(), time.process_time()
        response = digest_handler.handler(event, LambdaContext(timeout_ms=60_000))
        timings[name] = time.perf_counter() - t
        timings[name.replace("_s", "_cpu_s")] = time.process_time() - c
        if response != {"batchItemFailures": []}:
            raise SystemExit(f"digest not sent: {response}")
    timings["matplotlib_loaded"] = "matplotlib" in sys.modules
    out.write_text(json.dumps(timings))


if __name__ == "__main__":
    main()
