"""RunStore on SQLite: the results of each run, its latest decision, the run verdict history
of each result, and the run decisions announced (tables of migration 5).

Every evaluation happens inside one `BEGIN IMMEDIATE` transaction that also stores the
arrivals (in the worker, the same transaction as the records and the notify-queue rows), so
two workers on one file evaluate a run one after the other, each on every result stored so
far: no conflicting decisions, and a notice's key is inserted once (`run_notices`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from uvqc.adapters.sqlite.db import transaction
from uvqc.charts.run import control_charts
from uvqc.core.methods import MethodBook
from uvqc.pipeline.records import NotificationRequest, iso
from uvqc.runs.config import RunConfig
from uvqc.runs.evaluate import RunDecision, RunResult, evaluate_run
from uvqc.runs.grouping import (
    GROUP,
    AnnouncedDecision,
    Current,
    FlushAction,
    GroupingPolicy,
    coverage,
    flush_action,
    group_due,
    is_current,
)
from uvqc.runs.notices import (
    DIGEST,
    RunArrival,
    digest_request,
    group_request,
    requests_for,
    result_verdicts,
)
from uvqc.runs.report import (
    RunSummary,
    VerdictChange,
    decision_document,
    empty_document,
    summary_from_decision,
)
from uvqc.runs.withdrawal import current_notices, withdrawn_since_announced

log = logging.getLogger("uvqc.adapters.sqlite.runs")
RUN_CACHE = 32  # runs whose parsed results a store keeps (a worker's batch spans a few)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
# A held notice `n` that is still current: its key is among the run's current notices (the
# decision document's meta.notices, uvqc.runs.withdrawal); a decision stored before that
# was kept counts every notice as current.
HELD_CURRENT = (
    "EXISTS (SELECT 1 FROM runs c WHERE c.batch_id = n.batch_id AND ("
    "c.decision IS NULL OR NOT json_valid(c.decision) "
    "OR json_type(c.decision, '$.meta.notices') IS NULL "
    "OR EXISTS (SELECT 1 FROM json_each(c.decision, '$.meta.notices') j "
    "WHERE j.value = n.key)))"
)


class SqliteRunStore:
    """RunStore on the embedded database."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        methods: MethodBook,
        *,
        quiet_seconds: float = 900.0,
        grouping: GroupingPolicy | None = None,
    ) -> None:
        self.conn = conn
        self.methods = methods
        self.quiet_seconds = quiet_seconds
        self.grouping = grouping or GroupingPolicy()  # the lab's; [run.notify] overrides
        # Parsed results and the last run verdicts of recently evaluated runs: a result's
        # row never changes (same record id, same message), and the verdicts are used only
        # while the run's version matches; so several workers may share the file.
        self._parsed: OrderedDict[str, dict[str, RunResult]] = OrderedDict()
        self._verdicts: dict[str, tuple[int, dict[str, Any]]] = {}

    # -- the port ---------------------------------------------------------------------

    def track(self, arrivals: Sequence[RunArrival], *, now: datetime) -> list[NotificationRequest]:
        """Store arrivals, re-evaluate their runs; return the decisions to announce (with
        any earlier ones not yet confirmed)."""
        by_batch: dict[str, list[RunArrival]] = {}
        for a in arrivals:
            by_batch.setdefault(a.batch_id, []).append(a)
        pending: list[NotificationRequest] = []
        with transaction(self.conn) as c:
            for batch_id in sorted(by_batch):
                items = by_batch[batch_id]
                c.executemany(
                    "INSERT INTO run_results (batch_id, record_id, result) VALUES (?, ?, ?) "
                    "ON CONFLICT (batch_id, record_id) DO UPDATE SET result = excluded.result",
                    [(batch_id, a.result.record_id, _dumps(a.result.to_dict())) for a in items],
                )
                known = self._parsed.setdefault(batch_id, {})
                known.update((a.result.record_id, a.result) for a in items)
                row = c.execute(
                    "SELECT method, status FROM runs WHERE batch_id = ?", (batch_id,)
                ).fetchone()
                if row is None:
                    method, status = items[0].method, "open"
                    c.execute(
                        "INSERT INTO runs (batch_id, method, first_at, last_at) "
                        "VALUES (?, ?, ?, ?)",
                        (batch_id, method, iso(now), now.timestamp()),
                    )
                else:
                    method, status = row
                    c.execute(
                        "UPDATE runs SET last_at = MAX(last_at, ?) WHERE batch_id = ?",
                        (now.timestamp(), batch_id),
                    )
                pending += self._evaluate(c, batch_id, method, status == "final", now)
        return pending

    def confirm(self, requests: Sequence[NotificationRequest]) -> None:
        """These run notices are on the notify queue: never return them again."""
        if not requests:
            return
        with transaction(self.conn) as c:
            c.executemany(
                "UPDATE run_notices SET published = 1 WHERE key = ?", [(r.key,) for r in requests]
            )

    def quiet_due(self, *, now: datetime) -> bool:
        """Whether an open run has been quiet long enough (a read: no write lock)."""
        rows = self.conn.execute(
            "SELECT DISTINCT method FROM runs WHERE status = 'open' AND last_at <= ?",
            (now.timestamp() - self.quiet_seconds,),
        ).fetchall()
        return any(m in self.methods for (m,) in rows)

    def finalise_quiet(self, *, now: datetime) -> list[NotificationRequest]:
        """Finalise open runs without a new result for `quiet_seconds` (also runs an earlier
        worker left open); return their decisions to announce."""
        limit = now.timestamp() - self.quiet_seconds
        pending: list[NotificationRequest] = []
        with transaction(self.conn) as c:
            rows = c.execute(
                "SELECT batch_id, method FROM runs WHERE status = 'open' AND last_at <= ? "
                "ORDER BY batch_id",
                (limit,),
            ).fetchall()
            for batch_id, method in rows:
                if method in self.methods:  # a worker without the run's method leaves it
                    pending += self._evaluate(c, batch_id, method, True, now)
        return pending

    def groups_due(self, *, now: datetime) -> bool:
        """Whether a run's group of held decisions is due (a read: no write lock)."""
        row = self.conn.execute(
            "SELECT 1 FROM run_notices n WHERE held_until IS NOT NULL AND covered_by IS NULL "
            f"AND held_until <= ? AND {HELD_CURRENT} LIMIT 1",
            (now.timestamp(),),
        ).fetchone()
        return row is not None

    def flush_groups(self, *, now: datetime) -> list[NotificationRequest]:
        """Send the due groups of held decisions (one e-mail per run); return the notices to
        queue (with any earlier ones of those runs not yet confirmed)."""
        pending: list[NotificationRequest] = []
        with transaction(self.conn) as c:
            rows = c.execute(
                "SELECT DISTINCT n.batch_id, r.method FROM run_notices n "
                "JOIN runs r ON r.batch_id = n.batch_id "
                "WHERE n.held_until IS NOT NULL AND n.covered_by IS NULL AND n.held_until <= ? "
                f"AND {HELD_CURRENT} ORDER BY n.batch_id",
                (now.timestamp(),),
            ).fetchall()
            for batch_id, method in rows:
                if method in self.methods:  # a worker without the run's method leaves it
                    policy = self._policy(method)
                    self._flush(
                        c,
                        batch_id,
                        method,
                        policy,
                        now,
                        final=False,
                        digest_key=None,
                        current=stored_current(c, batch_id),
                    )
                    pending += self._pending(c, batch_id)
        return pending

    # -- evaluation -------------------------------------------------------------------

    def _evaluate(
        self, c: sqlite3.Connection, batch_id: str, method: str, final: bool, now: datetime
    ) -> list[NotificationRequest]:
        if method not in self.methods:
            log.warning(
                "run %s: its method %r is not loaded here; not evaluated",
                batch_id,
                method,
                extra={"batchId": batch_id},
            )
            return []
        config = self.methods[method].run  # None: the run only lists its results
        results = self._results(c, batch_id)
        decision = evaluate_run(results, config, batch_id=batch_id, final=final)
        charted: dict[str, Any] = {}
        if config is not None and decision.status == "final":
            decision, charted = self._control_charts(c, batch_id, method, config, decision, results)
        self._history(c, batch_id, results, self._previous(c, batch_id), decision, now)
        current = current_notices(decision)
        kept = kept_decisions(c, batch_id)
        announced: dict[str, tuple[str, ...]] = {}
        for anchor, affected, held, covered, key in c.execute(
            "SELECT anchor, affected, held_until, covered_by, key FROM run_notices "
            "WHERE batch_id = ? ORDER BY rowid",
            (batch_id,),
        ):
            if held is not None and covered is None and not is_current(key, current):
                continue  # withdrawn while held, never sent: its replacement is announced
            announced[anchor] = tuple(json.loads(affected))
        policy = self._policy(method)
        final_run = decision.status == "final"
        digest = None
        if final_run and config is not None and policy.digest:
            (earlier,) = c.execute(
                "SELECT COUNT(*) FROM run_notices WHERE batch_id = ? AND code = ?",
                (batch_id, DIGEST),
            ).fetchone()
            digest = digest_request(
                decision,
                method=method,
                decided_at=now,
                withdrawn=withdrawn_since_announced(kept, current),
                update=earlier > 0,
            )
        for request in requests_for(decision, announced, method=method, decided_at=now):
            code = str((request.run or {}).get("code", ""))
            held = None
            if not policy.is_immediate(code):
                held = group_due(policy, self._open_due(c, batch_id, current), now.timestamp())
            self._insert_notice(c, batch_id, request, now, held_until=held)
        if digest is not None:
            self._insert_notice(c, batch_id, digest, now)
        self._flush(
            c,
            batch_id,
            method,
            policy,
            now,
            final=final_run,
            digest_key=digest.key if digest is not None else None,
            current=current,
        )
        document = decision_document(decision, method, config)
        document["meta"].update(charted)
        document["meta"]["notices"] = current  # what is current (uvqc.runs.withdrawal)
        c.execute(
            "UPDATE runs SET status = ?, verdict = ?, positions = ?, batch_size = ?, "
            "version = version + 1, decision = ?, "
            "finalised_at = CASE WHEN ? = 'final' THEN COALESCE(finalised_at, ?) END "
            "WHERE batch_id = ?",
            (
                decision.status,
                decision.verdict,
                sum(1 for r in decision.results if r.sequence is not None),
                decision.batch_size,
                _dumps(document),
                decision.status,
                iso(now),
                batch_id,
            ),
        )
        return self._pending(c, batch_id)

    # -- notices: held, grouped, folded (uvqc.runs.grouping) ---------------------------

    def _policy(self, method: str) -> GroupingPolicy:
        """The method's `[run.notify]` over the lab's grouping policy."""
        config = self.methods[method].run
        return config.notify.policy(self.grouping) if config is not None else self.grouping

    def _insert_notice(
        self,
        c: sqlite3.Connection,
        batch_id: str,
        request: NotificationRequest,
        now: datetime,
        *,
        held_until: float | None = None,
    ) -> None:
        """A notice row, once per key (a re-decided run reaches the same keys)."""
        run = request.run or {}
        c.execute(
            "INSERT OR IGNORE INTO run_notices (key, batch_id, anchor, code, affected, "
            "request, created_at, held_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request.key,
                batch_id,
                run.get("anchor", ""),
                run.get("code", ""),
                _dumps(run.get("affected", [])),
                request.to_json(),
                iso(now),
                held_until,
            ),
        )

    def _open_due(
        self, c: sqlite3.Connection, batch_id: str, current: Current | None
    ) -> float | None:
        """When the run's open group is due (epoch seconds); None: nothing current held."""
        due = [h for key, h in self._held(c, batch_id) if is_current(key, current)]
        return min(due) if due else None

    def _held(self, c: sqlite3.Connection, batch_id: str) -> list[tuple[str, float]]:
        """(key, held_until) of the run's held decisions not covered by an e-mail yet."""
        rows = c.execute(
            "SELECT key, held_until FROM run_notices WHERE batch_id = ? "
            "AND held_until IS NOT NULL AND covered_by IS NULL ORDER BY rowid",
            (batch_id,),
        ).fetchall()
        return [(str(k), float(h)) for k, h in rows]

    def _flush(
        self,
        c: sqlite3.Connection,
        batch_id: str,
        method: str,
        policy: GroupingPolicy,
        now: datetime,
        *,
        final: bool,
        digest_key: str | None,
        current: Current | None,
    ) -> None:
        """Send the run's held decisions that are still current as one group e-mail, or
        fold them into the digest being queued, when `grouping.flush_action` says so; each
        then names its e-mail. Those no longer current stay held, never sent
        (uvqc.runs.withdrawal)."""
        action = flush_action(
            policy,
            self._open_due(c, batch_id, current),
            now.timestamp(),
            final=final,
            digest_sent=digest_key is not None,
        )
        if action is None:
            return
        held = [
            (key, text)
            for key, text in c.execute(
                "SELECT key, request FROM run_notices WHERE batch_id = ? "
                "AND held_until IS NOT NULL AND covered_by IS NULL ORDER BY rowid",
                (batch_id,),
            )
            if is_current(key, current)
        ]
        if action is FlushAction.DIGEST and digest_key is not None:
            cover = digest_key
        else:
            group = group_request(
                batch_id,
                [NotificationRequest.from_json(text) for _key, text in held],
                method=method,
                decided_at=now,
                interval_seconds=policy.interval_seconds,
            )
            self._insert_notice(c, batch_id, group, now)
            cover = group.key
        c.executemany(
            "UPDATE run_notices SET covered_by = ? WHERE key = ?",
            [(cover, key) for key, _text in held],
        )

    def _pending(self, c: sqlite3.Connection, batch_id: str) -> list[NotificationRequest]:
        """The run's notices to queue: its own e-mails, groups and digests not confirmed yet
        (held decisions and those a group or digest covers never are)."""
        pending = c.execute(
            "SELECT request FROM run_notices WHERE batch_id = ? AND published = 0 "
            "AND held_until IS NULL AND covered_by IS NULL ORDER BY rowid",
            (batch_id,),
        ).fetchall()
        return [NotificationRequest.from_json(r[0]) for r in pending]

    def _control_charts(
        self,
        c: sqlite3.Connection,
        batch_id: str,
        method: str,
        config: RunConfig,
        decision: RunDecision,
        results: list[RunResult],
    ) -> tuple[RunDecision, dict[str, Any]]:
        """A final run's QC points on the control charts of its (method, instrument): the
        Westgard violations involving them become run findings (`control_chart`). The
        history is the chart points kept in the decision documents of the final runs of the
        same method and instrument that began before this one (first_at, then batch id)."""
        instrument = run_instruments(c, batch_id).get(batch_id)
        rows = c.execute(
            "SELECT batch_id, json_extract(decision, '$.meta.chartPoints') FROM runs "
            "WHERE method = ? AND status = 'final' AND batch_id != ? AND json_valid(decision) "
            "AND json_extract(decision, '$.meta.instrument') IS ? "
            "AND (first_at, batch_id) < (SELECT first_at, batch_id FROM runs WHERE batch_id = ?) "
            "ORDER BY first_at, batch_id",
            (method, batch_id, instrument, batch_id),
        ).fetchall()
        history = [(other, json.loads(text) if text else {}) for other, text in rows]
        return control_charts(
            decision, results, config, method=method, instrument=instrument, history=history
        )

    def _results(self, c: sqlite3.Connection, batch_id: str) -> list[RunResult]:
        known = self._parsed.pop(batch_id, {})
        current: dict[str, RunResult] = {}
        for record_id, text in c.execute(
            "SELECT record_id, result FROM run_results WHERE batch_id = ?", (batch_id,)
        ):
            found = known.get(record_id)
            current[record_id] = found or RunResult.from_dict(json.loads(text))
        self._parsed[batch_id] = current
        while len(self._parsed) > RUN_CACHE:
            self._parsed.popitem(last=False)
        return list(current.values())

    def _previous(self, c: sqlite3.Connection, batch_id: str) -> dict[str, Any]:
        """The run verdicts of the previous decision, by record id."""
        (version,) = c.execute(
            "SELECT version FROM runs WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        cached = self._verdicts.get(batch_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        (text,) = c.execute("SELECT decision FROM runs WHERE batch_id = ?", (batch_id,)).fetchone()
        verdicts: dict[str, Any] = (
            json.loads(text).get("meta", {}).get("verdicts", {}) if text else {}
        )
        return verdicts

    def _history(
        self,
        c: sqlite3.Connection,
        batch_id: str,
        results: list[RunResult],
        before: dict[str, Any],
        decision: RunDecision,
        now: datetime,
    ) -> None:
        """Append a history row for each result whose run verdict changed (the previous
        verdicts are in the previous decision document; a result seen for the first time
        is compared with its check-time verdict)."""
        by_record = {r.record_id: r for r in results}
        rows = []
        for record_id, (verdict, codes) in result_verdicts(decision).items():
            own = by_record[record_id]
            old = before.get(record_id)
            old_pair = (own.verdict, own.findings) if old is None else (old[0], tuple(old[1]))
            if old_pair != (verdict, codes):
                rows.append(
                    (record_id, batch_id, own.sample_id, iso(now), verdict, _dumps(list(codes)))
                )
        (version,) = c.execute(
            "SELECT version FROM runs WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        self._verdicts[batch_id] = (
            version + 1,  # the UPDATE of the run that follows bumps it
            {k: [v, list(f)] for k, (v, f) in result_verdicts(decision).items()},
        )
        if len(self._verdicts) > RUN_CACHE:
            self._verdicts.pop(next(iter(self._verdicts)))
        if rows:
            c.executemany(
                "INSERT INTO run_verdicts (record_id, batch_id, sample_id, at, verdict, "
                "findings) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

    # -- reading ----------------------------------------------------------------------

    def list_runs(self, since: datetime | None = None) -> list[RunSummary]:
        """Every run (or those with a result since `since`), oldest first."""
        rows = self.conn.execute(
            "SELECT batch_id, method, status, decision, last_at FROM runs WHERE last_at >= ? "
            "ORDER BY first_at, batch_id",
            (since.timestamp() if since is not None else float("-inf"),),
        ).fetchall()
        return [
            summary_from_decision(
                b, m, json.loads(d) if d else None, datetime.fromtimestamp(t, UTC), s
            )
            for b, m, s, d, t in rows
        ]

    def show(self, batch_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT decision, method, status FROM runs WHERE batch_id = ?", (batch_id,)
        ).fetchone()
        if row is None:
            return None
        if row[0] is None:
            return empty_document(batch_id, row[1], row[2])
        document: dict[str, Any] = json.loads(row[0])
        document["meta"]["emails"] = run_emails(self.conn, batch_id)
        return document

    def verdicts_for_sample(self, sample_id: str) -> list[VerdictChange]:
        return verdicts_for_sample(self.conn, sample_id)


def verdicts_for_sample(conn: sqlite3.Connection, sample_id: str) -> list[VerdictChange]:
    """The run verdict history of a sample's results, oldest first."""
    rows = conn.execute(
        "SELECT record_id, batch_id, at, verdict, findings FROM run_verdicts "
        "WHERE sample_id = ? ORDER BY id",
        (sample_id,),
    ).fetchall()
    return [
        VerdictChange(
            r, b, datetime.fromisoformat(at.replace("Z", "+00:00")), v, tuple(json.loads(f))
        )
        for r, b, at, v, f in rows
    ]


def run_emails(conn: sqlite3.Connection, batch_id: str) -> list[dict[str, Any]]:
    """Which e-mail announced each of a run's decisions, and whether each is still current
    (uvqc.runs.grouping.coverage)."""
    kinds = {
        key: code
        for key, code in conn.execute(
            "SELECT key, code FROM run_notices WHERE batch_id = ? AND code IN (?, ?)",
            (batch_id, GROUP, DIGEST),
        )
    }
    return coverage(kept_decisions(conn, batch_id), kinds, stored_current(conn, batch_id))


def kept_decisions(conn: sqlite3.Connection, batch_id: str) -> list[AnnouncedDecision]:
    """A run's kept decisions (not its group and digest notices), in the order decided."""
    rows = conn.execute(
        "SELECT key, code, affected, held_until, covered_by, anchor, "
        "json_extract(request, '$.findings[0].message') FROM run_notices "
        "WHERE batch_id = ? AND code NOT IN (?, ?) ORDER BY rowid",
        (batch_id, GROUP, DIGEST),
    ).fetchall()
    return [
        AnnouncedDecision(key, code, tuple(json.loads(affected)), held, covered, anchor, msg or "")
        for key, code, affected, held, covered, anchor, msg in rows
    ]


def stored_current(conn: sqlite3.Connection, batch_id: str) -> dict[str, str] | None:
    """anchor -> key of the run's current decisions, as its stored decision says (None:
    a decision stored before uvqc kept it; every decision then counts as current)."""
    row = conn.execute(
        "SELECT json_extract(decision, '$.meta.notices') FROM runs "
        "WHERE batch_id = ? AND json_valid(decision)",
        (batch_id,),
    ).fetchone()
    if row is None or row[0] is None:
        return None
    current: dict[str, str] = json.loads(row[0])
    return current


def run_emails_for_sample(conn: sqlite3.Connection, sample_id: str) -> list[dict[str, Any]]:
    """The run decisions naming a sample, each with the e-mail that announced it and its
    `batchId` (for `uvqc trace`; the runs are those that changed the sample's verdict)."""
    batches = conn.execute(
        "SELECT DISTINCT batch_id FROM run_verdicts WHERE sample_id = ? ORDER BY batch_id",
        (sample_id,),
    ).fetchall()
    return [
        {"batchId": batch_id, **e}
        for (batch_id,) in batches
        for e in run_emails(conn, batch_id)
        if sample_id in e["affected"]
    ]


def run_instruments(conn: sqlite3.Connection, batch_id: str | None = None) -> dict[str, str]:
    """The instrument (`instrumentId`) of each run, or of `batch_id`'s only: the most common
    among its results' recorded messages (ties: the smallest name). Runs without one (or
    whose messages are truncated or not JSON objects) are left out."""
    where = "" if batch_id is None else "WHERE rr.batch_id = ?"
    rows = conn.execute(
        "SELECT batch_id, instrument, COUNT(*) FROM ("
        " SELECT rr.batch_id AS batch_id, CASE WHEN r.raw_truncated = 0 AND json_valid(r.raw)"
        " AND json_type(r.raw) = 'object' AND json_type(r.raw, '$.instrumentId') = 'text'"
        " THEN json_extract(r.raw, '$.instrumentId') END AS instrument"
        f" FROM run_results rr JOIN results r ON r.record_id = rr.record_id {where}"
        ") WHERE instrument IS NOT NULL "
        "GROUP BY batch_id, instrument ORDER BY batch_id, COUNT(*) DESC, instrument",
        () if batch_id is None else (batch_id,),
    ).fetchall()
    out: dict[str, str] = {}
    for batch, instrument, _count in rows:
        out.setdefault(batch, instrument)
    return out
