"""Grouped run decision e-mails end to end on the embedded runtime, counted at a real SMTP
relay (aiosmtpd) that fails on purpose: the failed CCV is e-mailed at once, the other
decisions wait for ONE group e-mail (the worker's tick sends it when due), the decision left
held when the run becomes final is in the digest; a redelivered run e-mails nothing more."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

from tests.runs.builder import jsonl
from tests.runs.grouped_run import BATCH, HOSTILE, METHOD, grouped_run, passing, remeasured
from tests.support.relay import FaultyRelay
from uvqc.core.display import display_safe
from uvqc.local.runtime import Runtime
from uvqc.local.worker import Worker

METHOD_TOML = f"""
name = "{METHOD}"

[run]
analyte = "nitrate-N"
units = "mg/L"
reporting_level = 0.1
detection_level = 0.05

[run.notify]
group_seconds = 300
"""


def subjects(relay: FaultyRelay) -> list[str]:
    return sorted(" ".join(m.subject.split()) for m in relay.messages())  # unfolded


def test_one_group_email_then_the_stop_decision_and_the_digest_each_exactly_once(
    relay: FaultyRelay, make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    method = tmp_path / "grouped.toml"
    method.write_text(METHOD_TOML, encoding="utf-8")
    relay.set_faults(transient_rate=0.2)
    rt = make_runtime(relay, method=method, max_attempts=12)
    lines = [line.encode() for line in jsonl(grouped_run(), METHOD).splitlines()]
    worker = Worker(rt)

    rt.db.intake_port.submit(lines[:30])
    worker.run_until_idle()
    assert subjects(relay) == []  # three decisions held for the group
    assert worker.finalise_once(now=datetime.now(UTC) + timedelta(seconds=301)) == 1
    worker.run_until_idle()
    [group] = relay.messages()
    assert subjects(relay) == [
        f"Run {BATCH}: 3 decisions (above_calibration, duplicate_rpd, spike_recovery)"
    ]
    body = message_from_bytes(group.data, policy=default).get_body(("plain",))
    # the hostile sample ID as text, its bidi override spelled out (uvqc.core.display)
    assert body is not None and display_safe(HOSTILE) in body.get_content()

    rt.db.intake_port.submit(lines[30:])
    worker.run_until_idle()
    assert subjects(relay) == [
        f"Run {BATCH}: 3 decisions (above_calibration, duplicate_rpd, spike_recovery)",
        f"Run {BATCH}: check_standard_failed",
        f"Run {BATCH}: flag",  # the run digest (uvqc.digest.compose)
    ]
    digest = next(m for m in relay.messages() if m.subject.endswith(": flag"))
    text = message_from_bytes(digest.data, policy=default).get_body(("plain",))
    assert text is not None and "blank_contamination" in text.get_content()

    rt.db.intake_port.submit(lines)  # a redrive of the whole run
    worker.run_until_idle()
    assert worker.finalise_once(now=datetime.now(UTC) + timedelta(days=1)) == 0
    worker.run_until_idle()
    assert len(relay.messages()) == 3
    assert len(set(relay.message_ids())) == 3

    # a late re-measurement: the re-run CCV1 passes, the e-mailed check_standard_failed is
    # withdrawn; staff learn of it in the run digest, sent again as an update
    rt.db.intake_port.submit([jsonl([remeasured(passing(26))], METHOD).encode()])
    worker.run_until_idle()
    assert len(relay.messages()) == 4
    update = next(m for m in relay.messages() if m.subject.endswith("(update)"))
    assert " ".join(update.subject.split()) == f"Run {BATCH}: flag (update)"
    parsed = message_from_bytes(update.data, policy=default)
    assert parsed["X-UVQC-Digest-Update"] == "true"
    assert "X-UVQC-Digest-Update" not in message_from_bytes(digest.data, policy=default)
    plain = parsed.get_body(("plain",))
    assert plain is not None
    content = plain.get_content().replace("\r\n", "\n")
    assert "Withdrawn since announced:\n  - check_standard_failed: Check standard CCV1" in content
