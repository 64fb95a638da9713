"""The chaos run on the AWS path, on moto: the packaged CloudFormation stack, the real
handlers driven by the event source mapping emulator, a faulty relay, an outage, a crash.

Reuses the end-to-end test's pieces rather than copying them: `tests.iac.conftest._package`
(`python -m uvqc.aws.build` + `osls package`), `tests.aws.stack.deployed` (create the stack
on moto, upload the artifact, disable moto's own mappings, visibility timeouts 10 s) and
`mapping_for` (an `EventSourceMapping` with the stack's batch sizes and function
environments), and `tests.aws.esm`.

~300 results (15 % flagged, 3 % malformed, 5 % submitted twice) go to the intake queue; the
relay fails 10 % of deliveries (451) and drops 2 % of connections, and is down (connection
refused) for 18 s. One notify invocation "crashes": the Lambda runtime dies right after the
relay accepted the 5th e-mail of its batch, before the ledger write (the crash window):
nothing of that batch is deleted, its messages come back after the visibility timeout.

    python -m bench.chaos_aws            # ~300 results, < 3 min (packaging included)
    python -m bench.chaos_aws --quick    # 100 results, 6 s outage
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.chaos import (
    OutageWindow,
    _pairs,
    _table,
    analyse,
    hard_timeout,
    outage_failures,
    traffic_rows,
    verdict_rows,
)
from bench.common import machine, save
from bench.traffic import body_of, describe, lab_items, submission_order
from tests.support.relay import FaultyRelay

NAME = "chaos_aws"
REGION = "eu-west-1"


class SimulatedCrash(BaseException):
    """The Lambda runtime dying mid-invocation: nothing after it runs, nothing is returned."""


def _scan(ddb: Any, table: str) -> list[dict[str, Any]]:
    from boto3.dynamodb.types import TypeDeserializer

    des = TypeDeserializer()
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table}
    for _ in range(1000):
        page = ddb.scan(**kwargs)
        items += [{k: des.deserialize(v) for k, v in i.items()} for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items


def _isolate(endpoint: str) -> None:
    """What tests/aws/conftest.py's autouse fixture does: boto3 to moto, no UVQC_* leaks."""
    for name in list(os.environ):
        if name.upper().startswith(("UVQC_", "AWS_")):
            del os.environ[name]
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
    )
    from uvqc.adapters import boto, ssm
    from uvqc.aws import check_handler, notify_handler

    boto.reset()
    ssm.forget()
    check_handler.reset()
    notify_handler.reset()


def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    import boto3
    from moto.server import ThreadedMotoServer

    from tests.aws import test_end_to_end as e2e
    from tests.aws.esm import queue_depth
    from tests.aws.stack import deployed, mapping_for
    from tests.iac.conftest import _package
    from uvqc.adapters import smtp as smtp_adapter
    from uvqc.aws import check_handler, notify_handler, ops

    timings: dict[str, float] = {}
    started = time.monotonic()
    (workdir / "iac").mkdir()
    packaged = _package(workdir / "iac", e2e.STAGE)
    timings["package_s"] = round(time.monotonic() - started, 1)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved_env = dict(os.environ)
    events: list[dict[str, Any]] = []
    # The handlers' JSON logs and EMF metrics would flood stdout: keep them in memory.
    from uvqc.aws.observability import logger as handler_logger

    log_handler = handler_logger.registered_handler
    previous_stream = log_handler.setStream(io.StringIO())  # type: ignore[attr-defined]
    quiet = contextlib.redirect_stdout(io.StringIO())
    quiet.__enter__()
    try:
        _isolate(endpoint)
        started = time.monotonic()
        stack_cm = deployed(endpoint, packaged, e2e.STAGE)
        stack = stack_cm.__enter__()
        timings["stack_s"] = round(time.monotonic() - started, 1)

        def client(service: str) -> Any:
            return boto3.client(service, region_name=REGION, endpoint_url=endpoint)

        sqs, ddb = client("sqs"), client("dynamodb")
        notify_env = stack.functions["NotifyLambdaFunction"]["Environment"]["Variables"]
        client("ssm").put_parameter(
            Name=notify_env["UVQC_SMTP_PASSWORD_PARAMETER"],
            Value=e2e.SMTP_PASSWORD,
            Type="SecureString",
        )
        relay = FaultyRelay(
            transient_rate=0.10,
            drop_rate=0.02,
            auth=(e2e.SMTP_USER, e2e.SMTP_PASSWORD),
            seed=args.seed,
        )
        with relay:
            check = mapping_for(stack, "CheckLambdaFunction", check_handler.handler, sqs)
            notify = mapping_for(
                stack,
                "NotifyLambdaFunction",
                notify_handler.handler,
                sqs,
                UVQC_CHANNEL="smtp",
                UVQC_SMTP_HOST=relay.host,
                UVQC_SMTP_PORT=str(relay.port),
                UVQC_SMTP_STARTTLS="false",
                UVQC_RETRY_BASE_SECONDS=str(args.retry_base),
                UVQC_RETRY_MAX_SECONDS=str(args.retry_max),
                UVQC_MAX_ATTEMPTS=str(args.max_attempts),
            )
            settings = stack.settings()
            items = lab_items(args.results, seed=args.seed, prefix="AW")
            order = submission_order(args.results, seed=args.seed)
            t0 = time.monotonic()

            def now() -> float:
                return time.monotonic() - t0

            def note(what: str, **extra: Any) -> None:
                events.append({"t": round(now(), 2), "event": what, **extra})

            intake = ops.intake_queue(settings, stack.outputs["IntakeQueueUrl"])
            ids = intake.submit([body_of(items, e) for e in order])
            submitted = list(zip(ids, [i for i, _ in order], strict=True))
            note("submitted", messages=len(submitted))

            outage_end = args.outage_start + args.seconds_outage
            outage = OutageWindow(relay, args.outage_start, outage_end, note)
            crashed = False
            drained_at = None
            while now() < args.hard_timeout:
                t = now()
                outage.tick(t)
                busy = check.poll_once()
                if not crashed and t >= args.crash_at and not outage.began:
                    crashed = _crash_once(
                        notify, smtp_adapter, args.crash_after, note, args.crash_timeout_s
                    )
                    busy += 1
                else:
                    busy += notify.poll_once()
                if busy == 0:
                    if outage.ended and crashed:
                        depth = (
                            queue_depth(sqs, check.queue_url),
                            queue_depth(sqs, notify.queue_url),
                        )
                        if depth == ((0, 0), (0, 0)):
                            drained_at = t
                            note("drained: intake and notify queues empty")
                            break
                    time.sleep(0.2)
            else:
                note("hard timeout: not drained")
            received = relay.messages()
            counters = relay.counters
        records = {
            i["recordId"]: (i.get("sampleId"), i["verdict"], i.get("notificationKey"))
            for i in _scan(ddb, stack.outputs["RecordsTableName"])
        }
        ledger = {
            i["notificationKey"]: {
                "status": i["status"],
                "sample_id": i.get("sampleId"),
                "attempts": [dict(a) for a in i.get("attempts", [])],
            }
            for i in _scan(ddb, stack.outputs["LedgerTableName"])
            if "status" in i  # the table also holds the window index (window#<digest> items)
        }
        letters = ops.dead_letters(settings).list(1000)
        dead = [(d.queue, d.reason) for d in letters]
        figures = analyse(
            items=items,
            submitted=submitted,
            records=records,
            ledger=ledger,
            dead=dead,
            received=received,
            back_up_at=outage.back_up_wall,
        )
        last_email = max((m.at for m in received), default=None)
        t_end = drained_at if drained_at is not None else now()
        figures.update(
            traffic=describe(items),
            drained=drained_at is not None,
            seconds_total=round(t_end, 1),
            seconds_to_drain_after_outage=round(t_end - outage_end, 1),
            last_email_after_outage_s=(
                None
                if last_email is None or outage.back_up_wall is None
                else round(last_email - outage.back_up_wall, 1)
            ),
            relay={
                "connections": counters.connections,
                "accepted": counters.accepted,
                "transient_451": counters.transient,
                "dropped": counters.dropped,
            },
            esm={
                "check": vars(check.stats) | {"errors": check.stats.errors[:3]},
                "notify": vars(notify.stats) | {"errors": notify.stats.errors[:3]},
            },
            events=events,
            timings=timings,
        )
        stack_cm.__exit__(None, None, None)  # reset moto
        return figures
    finally:
        quiet.__exit__(None, None, None)
        log_handler.setStream(previous_stream)  # type: ignore[attr-defined]
        server.stop()
        os.environ.clear()
        os.environ.update(saved_env)


def _crash_once(
    notify: Any, smtp_adapter: Any, after: int, note: Any, timeout_s: float | None
) -> bool:
    """One notify invocation whose runtime dies right after the relay accepted its
    `after`-th e-mail, before the ledger records it. False if the batch was too small.
    `timeout_s` overrides the function timeout the context reports (hence the lease)."""
    original = smtp_adapter.SmtpSender.send
    saved_timeout = notify.timeout_ms
    if timeout_s is not None:
        notify.timeout_ms = int(timeout_s * 1000)
    sent = 0

    def send(self: Any, email: Any, recipients: Any) -> Any:
        nonlocal sent
        accepted = original(self, email, recipients)
        sent += 1
        if sent == after:
            raise SimulatedCrash(str(email["Message-ID"]))
        return accepted

    smtp_adapter.SmtpSender.send = send
    try:
        notify.poll_once()
    except SimulatedCrash as crash:
        note(
            "notify invocation crashed after the relay accepted an e-mail",
            message_id=str(crash),
            batch_sent_before=after - 1,
        )
        return True
    finally:
        smtp_adapter.SmtpSender.send = original
        notify.timeout_ms = saved_timeout
    return False


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos_aws", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 results, 6 s outage")
    parser.add_argument("--results", type=int, default=None, help="distinct results (300)")
    parser.add_argument("--seconds-outage", type=float, default=None, help="relay outage (18)")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    args.results = args.results or (100 if args.quick else 300)
    if args.seconds_outage is None:
        args.seconds_outage = 6.0 if args.quick else 18.0
    args.outage_start = 3.0
    args.crash_at = 0.5
    args.crash_after = 5
    # Quick mode only: the crashed invocation reports a 5 s timeout, so its lease (time left
    # + 10 s) ends within the smoke run; the full run keeps the function's 60 s.
    args.crash_timeout_s = 5.0 if args.quick else None
    args.seed = 2027
    # Base 2 s, cap 8 s: at most outage_failures() failures inside the outage; 10 attempts =
    # the template's maxReceiveCount (the queue's own DLQ move would come one receive later).
    args.retry_base, args.retry_max, args.max_attempts = 2.0, 8.0, 10
    args.hard_timeout = 45.0 if args.quick else 140.0
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="uvqc-chaos-aws-") as tmp,
        hard_timeout(args.hard_timeout + 90),
    ):
        figures = run(args, Path(tmp))
    plan = {k: v for k, v in vars(args).items() if k not in {"quick", "no_save", "hard_timeout"}}
    plan.update(transient_rate=0.10, drop_rate=0.02, flagged=0.15, malformed=0.03, duplicates=0.05)
    data = {
        "machine": machine(),
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "mode": "quick" if args.quick else "full",
        "command": "python -m bench.chaos_aws" + (" --quick" if args.quick else ""),
        "plan": plan,
        "figures": figures,
        "wall_seconds": round(time.monotonic() - started, 1),
    }
    if not args.no_save:
        save(NAME, data)
    print(render(data))
    return data


def _event_time(f: dict[str, Any], prefix: str, default: float) -> float:
    """When an event really happened (the loop checks its schedule between invocations)."""
    return next((e["t"] for e in f["events"] if e["event"].startswith(prefix)), default)


def render(data: dict[str, Any] | None) -> str:
    if not data:
        return "## Chaos run: AWS path (moto)\n\nNot measured yet: `python -m bench.chaos_aws`.\n"
    p, f = data["plan"], data["figures"]
    worst = outage_failures(p["retry_base"], p["retry_max"], p["seconds_outage"])
    rows = verdict_rows(f)
    rows.append(
        (
            "time to drain after the relay came back",
            f"{f['seconds_to_drain_after_outage']} s",
            "bounded by retry cap / lease",
            "met" if f["drained"] else "**missed**",
        )
    )
    counts = [
        ("submitted messages", f"{f['submitted']:,} ({f['duplicate_submissions']} twice)"),
        *traffic_rows(f),
        ("records in the records table", f"{f['records']:,} ({_pairs(f['records_by_verdict'])})"),
        ("flagged / malformed (distinct, ground truth)",
         f"{f['expected_flagged']} / {f['expected_rejected']}"),
        ("e-mails expected / accepted by the relay",
         f"{f['emails_expected']} / {f['emails_received']} "
         f"({f['distinct_message_ids_received']} distinct Message-IDs)"),
        ("ledger table", _pairs(f["ledger_status"])),
        ("attempts in the ledger", _pairs(f["attempt_outcomes"])),
        ("crash-window resends in the ledger", str(f["ledger_resends"])),
        ("relay", _pairs(f["relay"])),
        ("check invocations / failed", f"{f['esm']['check']['invocations']} / "
         f"{f['esm']['check']['batch_failures']}"),
        ("notify invocations / failed", f"{f['esm']['notify']['invocations']} / "
         f"{f['esm']['notify']['batch_failures']} (the simulated crash escapes the emulator)"),
    ]  # fmt: skip
    crash = next((e for e in f["events"] if e["event"].startswith("notify invocation")), None)
    out = [
        "## Chaos run: AWS path (moto)",
        "",
        f"`{data['command']}` ({data['wall_seconds']} s wall including "
        f"{f['timings'].get('package_s', '?')} s of packaging and "
        f"{f['timings'].get('stack_s', '?')} s of stack creation; measured "
        f"{data.get('measured_at', 'now')}). The packaged CloudFormation stack on moto, the "
        "real handlers driven by the event source mapping emulator (`tests/aws/esm.py`) with "
        f"the stack's batch sizes; {p['results']} distinct results of the modelled lab week "
        f"(`bench/traffic.py`; {p['flagged']:.0%} flagged, {p['malformed']:.0%} malformed, "
        f"{p['duplicates']:.0%} delivered twice, half of those re-serialised); relay: "
        f"{p['transient_rate']:.0%} answered 451, {p['drop_rate']:.0%} connections dropped, down "
        f"(connection refused) for {p['seconds_outage']:.0f} s from t = "
        f"{_event_time(f, 'relay down', p['outage_start']):.1f} s; one notify invocation dies "
        "right after the relay accepted "
        f"the {p['crash_after']}th e-mail of its batch, before the ledger write (the worst "
        "moment: the documented crash window). Overrides as in the end-to-end test: channel "
        f"smtp to the relay, visibility timeouts 10 s; retries base {p['retry_base']:g} s, cap "
        f"{p['retry_max']:g} s, {p['max_attempts']} attempts (= the template's maxReceiveCount; "
        f"an outage of {p['seconds_outage']:.0f} s costs at most {worst}).",
        "",
        *_table(rows, ("figure", "measured", "goal", "")),
        "",
        *_table(counts, ("count", "value")),
        "",
    ]
    if crash:
        out.append(
            f"The crash at t = {crash['t']} s interrupted `{crash['message_id']}`. "
            + (
                "; ".join(
                    f"`{d['message_id']}` arrived x{d['times_received']}, ledger marks the "
                    f"resend: {d['ledger_marks_resend']} ({'; '.join(d['attempts'])})"
                    for d in f["duplicates"]
                )
                or "No e-mail arrived twice."
            )
            + " The resend waits for the ledger lease (the invocation's time left + 10 s = "
            f"{(p.get('crash_timeout_s') or 60) + 10:g} s with a "
            f"{p.get('crash_timeout_s') or 60:g} s timeout): the redelivered message finds the "
            "notification BUSY and is delayed until the lease ends. On AWS the notify queue's "
            "visibility timeout (360 s) is longer, so the lease has expired when the message "
            "returns."
        )
        out.append("")
    if f["dead_by_reason"]:
        out += [
            "Dead letters: " + "; ".join(f"{k}: {v}" for k, v in f["dead_by_reason"].items()),
            "",
        ]
    out += [
        f"Time to drain: {f['seconds_total']} s from submission to empty queues, "
        f"{f['seconds_to_drain_after_outage']} s after the relay came back (last e-mail "
        f"{f['last_email_after_outage_s']} s after it).",
        "",
    ]
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
