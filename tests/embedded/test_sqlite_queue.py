"""The SQLite queue behaves like SQS: visibility, receive counts, delays, DLQ, redrive."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from uvqc.adapters.sqlite import SqliteQueue, connect
from uvqc.adapters.sqlite.dlq import SqliteDeadLetters


def queue(path: Path, name: str = "intake", max_receive_count: int = 3) -> SqliteQueue:
    return SqliteQueue(connect(path), name, max_receive_count=max_receive_count)


def test_a_received_message_is_invisible_until_its_visibility_timeout_ends(db_path: Path) -> None:
    q = queue(db_path)
    q.send([b"one"])
    first = q.receive(10, visibility_timeout=0.3)
    assert [m.body for m in first] == ["one"]
    assert q.receive(10, visibility_timeout=0.3) == []
    assert q.stats().in_flight == 1
    time.sleep(0.35)
    again = q.receive(10, visibility_timeout=0.3)
    assert [m.receive_count for m in again] == [2]


def test_batch_receive_returns_at_most_the_batch_in_send_order(db_path: Path) -> None:
    q = queue(db_path)
    q.send([f"m{i}".encode() for i in range(25)])
    batch = q.receive(10, visibility_timeout=30)
    assert [m.body for m in batch] == [f"m{i}" for i in range(10)]
    assert q.stats().visible == 15


def test_deleted_messages_are_gone_and_stale_receipts_do_nothing(db_path: Path) -> None:
    q = queue(db_path)
    q.send([b"x"])
    (m,) = q.receive(1, visibility_timeout=0.05)
    time.sleep(0.06)
    (again,) = q.receive(1, visibility_timeout=30)
    assert q.delete([m.receipt]) == 0  # the first worker's receive has expired
    assert q.delete([again.receipt]) == 1
    assert q.stats().pending == 0


def test_change_visibility_delays_a_retry(db_path: Path) -> None:
    q = queue(db_path)
    q.send([b"x"])
    (m,) = q.receive(1, visibility_timeout=30)
    q.change_visibility([(m.receipt, 0.2)])
    assert q.stats().delayed == 1
    assert q.receive(1, visibility_timeout=30) == []
    time.sleep(0.25)
    (again,) = q.receive(1, visibility_timeout=30)
    assert again.receive_count == 2


def test_a_message_received_too_often_moves_to_the_dlq_with_a_reason(db_path: Path) -> None:
    q = queue(db_path, max_receive_count=2)
    q.send([b"poison"])
    for _ in range(2):
        (m,) = q.receive(1, visibility_timeout=30)
        q.change_visibility([(m.receipt, 0)])
    assert q.receive(1, visibility_timeout=30) == []
    (dead,) = q.dead_letters()
    assert dead.body == "poison"
    assert "received 2 times" in dead.reason
    assert q.stats().pending == 0


def test_explicit_dead_letter_and_redrive_with_a_fresh_receive_count(db_path: Path) -> None:
    q = queue(db_path, name="notify")
    q.send([b'{"sampleId": "S-1"}'])
    (m,) = q.receive(1, visibility_timeout=30)
    assert q.dead_letter([(m.receipt, "permanent failure: 550")]) == 1
    letters = SqliteDeadLetters({"notify": q})
    (d,) = letters.list()
    assert (d.queue, d.sample_id, d.reason) == ("notify", "S-1", "permanent failure: 550")
    assert letters.show(d.message_id) == d
    assert letters.redrive("notify") == 1
    (back,) = q.receive(1, visibility_timeout=30)
    assert back.receive_count == 1
    assert letters.list() == []


def _drain(path: str, out: multiprocessing.Queue[list[str]]) -> None:
    q = SqliteQueue(connect(Path(path)), "intake")
    got: list[str] = []
    while batch := q.receive(7, visibility_timeout=60):
        got.extend(m.id for m in batch)
    out.put(got)


def test_concurrent_workers_on_one_file_never_receive_the_same_message(db_path: Path) -> None:
    ids = queue(db_path).send([f"m{i}".encode() for i in range(600)])
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue[list[str]] = ctx.Queue()
    procs = [ctx.Process(target=_drain, args=(str(db_path), out)) for _ in range(4)]
    for p in procs:
        p.start()
    received = [m for _ in procs for m in out.get(timeout=60)]
    for p in procs:
        p.join(timeout=30)
    assert sorted(received) == sorted(ids)  # every message once, none twice
