"""A worker process killed with SIGKILL mid-run and restarted loses nothing and sends no
duplicate, beyond the one documented window (the relay accepted, the ledger was not yet
written): that resend carries the same Message-ID and the ledger marks it as a resend."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.embedded.conftest import FAST, result
from tests.support.relay import FaultyRelay
from uvqc.local.runtime import Database

N = 1200


def worker_env(db: Path, relay: FaultyRelay) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UVQC_")}
    env.update({f"UVQC_{k.upper()}": str(v) for k, v in FAST.items()})
    env.update(
        UVQC_DB=str(db),
        UVQC_CHANNEL="smtp",
        UVQC_SMTP_HOST=relay.host,
        UVQC_SMTP_PORT=str(relay.port),
        UVQC_VISIBILITY_TIMEOUT_SECONDS="1",
        UVQC_LOG_LEVEL="WARNING",
    )
    return env


def test_sigkill_mid_run_then_restart_loses_nothing(db_path: Path, relay: FaultyRelay) -> None:
    with Database.open(db_path) as db:
        db.intake_port.submit([result(f"K-{i:04d}", 3.5 if i % 2 else 0.5) for i in range(N)])
    env = worker_env(db_path, relay)
    cmd = [sys.executable, "-m", "uvqc", "work"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(relay.messages()) < 60 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    sent_before = len(relay.messages())
    assert 0 < sent_before < N // 2, "the kill should land mid-run"

    restart = subprocess.run(
        [*cmd, "--until-idle"], env=env, capture_output=True, text=True, timeout=90
    )
    assert restart.returncode == 0, restart.stderr

    with Database.open(db_path) as db:
        assert sum(db.store.counts().values()) == N  # every message has a record
        assert db.ledger.counts() == {"sent": N // 2}
        assert db.intake.stats().pending == 0 and db.notify.stats().pending == 0
        per_id = Counter(relay.message_ids())
        assert len(per_id) == N // 2  # every flagged result reached the relay
        resent = [mid for mid, n in per_id.items() if n > 1]
        assert len(resent) <= 1  # only the e-mail in flight at the kill may come twice
        for mid in resent:
            sample = next(m.sample_id for m in relay.messages() if m.message_id == mid)
            assert sample is not None
            (note,) = db.ledger.notifications_for_sample(sample)
            assert "resend" in note.attempts[-1].detail
