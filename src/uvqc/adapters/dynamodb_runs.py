"""RunStore on DynamoDB: one item collection per run in the runs table, the same decisions
as the SQLite run store (uvqc.runs does the deciding; this module only keeps state).

Items (key `batchId` + `sk`):
- `sk = "RUN"`: the run: method, status, lastAt (epoch seconds of the last arrival),
  version, the latest decision document; `openSince`/`runStatus` only while open (the
  sparse GSI `openRuns` (runStatus, lastAt) finds quiet runs without a scan).
- `sk = "R#<recordId>"`: a result of the run (idempotent put: a redelivery rewrites it),
  with `instrument` (the message's instrumentId) when it named one.
- `sk = "N#<notification key>"`: an announced decision (anchor, affected, the request,
  `published`); a held one (uvqc.runs.grouping) has `heldUntil` and is never queued itself;
  a group e-mail is one too (`code = "group"`, `members`: the keys of the decisions it
  covers). The run item's `groupDue` is when its open group is due; the scheduled runs
  function sends due groups (`flush_groups`, via the `openRuns` index). A held decision
  no longer current (its key not in the decision document's `meta.notices`,
  uvqc.runs.withdrawal) is never a member: it stays, withdrawn, never sent.
- `sk = "V#<version>#<recordId>"`: a change of a result's run verdict (history).

Control charts (as the SQLite store): a final run's QC points go on the charts of its
(method, instrument); the run's instrument is the most common `instrument` of its results
(ties: the smallest name). The chart points are kept in the decision document
(`meta.chartPoints`, `meta.instrument`) and, for the history of later runs, in one item per
final run in the chart's own collection: `batchId = CHART_PREFIX + method + US + instrument`
(US = U+001F, a control character no identifier may hold, so no run can share it),
`sk = "P#<firstAt>#<batchId>"`, written in the same transaction as the decision. A run's
history is read from that collection with one consistent Query (runs that began before it,
in (firstAt, batchId) order); see docs/AWS.md for the one difference from SQLite.

Concurrency: every evaluation reads the whole collection with a consistent Query, decides,
and commits the run item (condition: the version it read) together with its new notices
in one TransactWriteItems. Two check invocations holding results of one run can both
evaluate, but only one commits per version; the other re-reads (now with the winner's
results) and decides again. So no two decisions are taken on the same version, and a
notice key is written once (condition: attribute_not_exists). Notices are handed out
until `confirm` marks them published (after SendMessageBatch to the notify queue), so a
crash between the commit and the publish re-sends them on redelivery; the notify
ledger drops a repeated key.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from uvqc.adapters.boto import describe, error_code
from uvqc.adapters.dynamodb import paginate
from uvqc.charts.run import StoredPoints, control_charts
from uvqc.core.methods import MethodBook
from uvqc.errors import InfrastructureError
from uvqc.pipeline.records import NotificationRequest, iso
from uvqc.runs.evaluate import RunResult, evaluate_run
from uvqc.runs.grouping import (
    DECISION_CODES,
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

log = logging.getLogger("uvqc.adapters.dynamodb_runs")
SDK_ERRORS = (BotoCoreError, ClientError)
RUN = "RUN"
OPEN = "open"
OPEN_INDEX = "openRuns"
SAMPLE_INDEX = "bySample"  # sparse: only the V# (verdict change) items carry sampleId
TRANSACT_ITEMS = 100  # TransactWriteItems limit per request
BATCH_ITEMS = 25  # BatchWriteItem limit per request
# DynamoDB's item size limit is 400 KB; the run item holds the decision document (about
# 200 bytes per position), so a run of more than ~1,500 positions does not fit.
ITEM_LIMIT_BYTES = 400 * 1024
RUN_ITEM_BUDGET = ITEM_LIMIT_BYTES - 8 * 1024  # the other attributes of the run item
NOTICE_LEASE_SECONDS = 120  # > check timeout (30 s): the committer queues its notices first
RACES = 8  # re-evaluations after losing a version race before giving up
CHART_PREFIX = "CHART\x1f"  # partition of a (method, instrument) chart's points
CHART_POINTS = "P#"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _n(value: float) -> dict[str, str]:
    return {"N": repr(value) if isinstance(value, float) else str(value)}


class DynamoRunStore:
    """RunStore + `uvqc runs --aws` reads on the runs table."""

    def __init__(
        self,
        client: Any,
        table: str,
        methods: MethodBook,
        *,
        quiet_seconds: float = 900.0,
        grouping: GroupingPolicy | None = None,
    ) -> None:
        self._db = client
        self._table = table
        self.methods = methods
        self.quiet_seconds = quiet_seconds
        self.grouping = grouping or GroupingPolicy()  # the lab's; [run.notify] overrides

    # -- the port ---------------------------------------------------------------------

    def track(self, arrivals: Sequence[RunArrival], *, now: datetime) -> list[NotificationRequest]:
        by_batch: dict[str, list[RunArrival]] = {}
        for a in arrivals:
            by_batch.setdefault(a.batch_id, []).append(a)
        pending: list[NotificationRequest] = []
        for batch_id in sorted(by_batch):
            items = by_batch[batch_id]
            self._batch_write(
                [
                    {
                        "batchId": _s(batch_id),
                        "sk": _s(f"R#{a.result.record_id}"),
                        "result": _s(json.dumps(a.result.to_dict(), separators=(",", ":"))),
                        **({"instrument": _s(a.instrument)} if a.instrument else {}),
                    }
                    for a in items
                ]
            )
            pending += self._evaluate(batch_id, items[0].method, now, arrival=True)
        return pending

    def confirm(self, requests: Sequence[NotificationRequest]) -> None:
        for request in requests:
            batch_id = (request.run or {}).get("batchId", "")
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key={"batchId": _s(batch_id), "sk": _s(f"N#{request.key}")},
                    UpdateExpression="SET published = :t",
                    ExpressionAttributeValues={":t": {"BOOL": True}},
                )
            except SDK_ERRORS as exc:
                raise InfrastructureError(f"runs table UpdateItem failed: {describe(exc)}") from exc

    def finalise_quiet(self, *, now: datetime) -> list[NotificationRequest]:
        """Finalise open runs quiet for `quiet_seconds` (sparse GSI `openRuns`)."""
        limit = now.timestamp() - self.quiet_seconds
        pending: list[NotificationRequest] = []
        for item in self._query(
            IndexName=OPEN_INDEX,
            KeyConditionExpression="runStatus = :open AND lastAt <= :limit",
            ExpressionAttributeValues={":open": _s(OPEN), ":limit": _n(limit)},
        ):
            batch_id, method = item["batchId"]["S"], item["method"]["S"]
            if method in self.methods:  # a function without the run's method leaves it
                pending += self._evaluate(batch_id, method, now, final=True)
        return pending

    def flush_groups(self, *, now: datetime) -> list[NotificationRequest]:
        """Send the due groups of held decisions (one e-mail per run): every open run whose
        `groupDue` has passed (sparse GSI `openRuns`; only open runs hold decisions) is
        decided again, which queues its group."""
        pending: list[NotificationRequest] = []
        for item in self._query(
            IndexName=OPEN_INDEX,
            KeyConditionExpression="runStatus = :open",
            FilterExpression="groupDue <= :now",
            ExpressionAttributeValues={":open": _s(OPEN), ":now": _n(now.timestamp())},
        ):
            batch_id, method = item["batchId"]["S"], item["method"]["S"]
            if method in self.methods:  # a function without the run's method leaves it
                pending += self._evaluate(batch_id, method, now)
        return pending

    # -- evaluation -------------------------------------------------------------------

    def _evaluate(
        self,
        batch_id: str,
        method: str,
        now: datetime,
        *,
        final: bool = False,
        arrival: bool = False,
    ) -> list[NotificationRequest]:
        for _ in range(RACES):
            items = list(
                self._query(
                    KeyConditionExpression="batchId = :b",
                    ExpressionAttributeValues={":b": _s(batch_id)},
                    ConsistentRead=True,
                )
            )
            committed = self._decide(batch_id, method, items, now, final=final, arrival=arrival)
            if committed is not None:
                return committed
        raise InfrastructureError(f"run {batch_id}: lost {RACES} version races; retry later")

    def _decide(
        self,
        batch_id: str,
        method: str,
        items: list[Mapping[str, Any]],
        now: datetime,
        *,
        final: bool,
        arrival: bool,
    ) -> list[NotificationRequest] | None:
        """One evaluation; None when another writer committed first."""
        header = next((i for i in items if i["sk"]["S"] == RUN), None)
        if header is not None:
            method = header["method"]["S"]
            final = final or header.get("status", {}).get("S") == "final"
        if method not in self.methods:
            log.warning("run %s: its method %r is not loaded here; not evaluated", batch_id, method)
            return []
        config = self.methods[method].run  # None: the run only lists its results
        results = [
            RunResult.from_dict(json.loads(i["result"]["S"]))
            for i in items
            if i["sk"]["S"].startswith("R#")
        ]
        notices = sorted(
            (i for i in items if i["sk"]["S"].startswith("N#")),
            key=lambda i: (int(i["version"]["N"]), i["sk"]["S"]),
        )
        known = {i["sk"]["S"][2:] for i in notices}
        decision = evaluate_run(results, config, batch_id=batch_id, final=final)
        first_at = header["firstAt"] if header is not None else _s(iso(now))
        charted: dict[str, Any] = {}
        if config is not None and decision.status == "final":
            instrument = run_instrument(items)
            history = self._chart_history(method, instrument, first_at["S"], batch_id)
            decision, charted = control_charts(
                decision, results, config, method=method, instrument=instrument, history=history
            )
        document = decision_document(decision, method, config)
        document["meta"].update(charted)
        current = current_notices(decision)
        document["meta"]["notices"] = current  # what is current (uvqc.runs.withdrawal)
        kept = kept_decisions(notices)
        waiting = {d.key for d in kept if d.held_until is not None and d.covered_by is None}
        announced = {  # withdrawn while held, never sent: its replacement is announced
            i["anchor"]["S"]: tuple(json.loads(i["affected"]["S"]))
            for i in notices
            if i["sk"]["S"][2:] not in waiting or is_current(i["sk"]["S"][2:], current)
        }
        version = int(header["version"]["N"]) if header is not None else 0
        fresh = [
            r
            for r in requests_for(decision, announced, method=method, decided_at=now)
            if r.key not in known
        ]
        digest = None  # a final run's digest (unless the policy turns digests off)
        if decision.status == "final" and config is not None and self._policy(method).digest:
            digest = digest_request(
                decision,
                method=method,
                decided_at=now,
                withdrawn=withdrawn_since_announced(kept, current),
                update=any(i["code"]["S"] == DIGEST for i in notices),
            )
            if digest.key in known:
                digest = None  # already committed (an unconfirmed one is an orphan below)
        lease_until = now.timestamp() + NOTICE_LEASE_SECONDS
        # Held decisions of a final run are folded into its digest (or sent as a group when
        # there is none); the digest itself is among `queued`.
        queued, held, due = self._hold_and_group(
            batch_id,
            method,
            notices,
            fresh,
            now,
            final=decision.status == "final",
            digest=digest,
            current=current,
        )
        last_at = float(header["lastAt"]["N"]) if header is not None else 0.0
        if arrival:
            last_at = max(last_at, now.timestamp())
        text = json.dumps(document, separators=(",", ":"))
        if len(text.encode()) > RUN_ITEM_BUDGET:
            raise InfrastructureError(
                f"run {batch_id}: its decision ({len(text.encode())} bytes for "
                f"{len(results)} results) exceeds DynamoDB's 400 KB item limit; split the run "
                "into batches of at most ~1,500 positions"
            )
        run_item: dict[str, Any] = {
            "batchId": _s(batch_id),
            "sk": _s(RUN),
            "method": _s(method),
            "status": _s(decision.status),
            "verdict": _s(decision.verdict),
            "lastAt": _n(last_at),
            "version": _n(version + 1),
            "decision": _s(text),
            "firstAt": first_at,
        }
        if decision.status != "final":
            run_item["runStatus"] = _s(OPEN)
        if due is not None:
            run_item["groupDue"] = _n(due)
        condition = (
            {"ConditionExpression": "attribute_not_exists(sk)"}
            if header is None
            else {
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": _n(version)},
            }
        )
        writes: list[dict[str, Any]] = [
            {"Put": {"TableName": self._table, "Item": run_item, **condition}}
        ]
        if "chartPoints" in charted:
            writes.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": _chart_item(method, charted, first_at, batch_id),
                    }
                }
            )
            before = _charted_instrument(header)
            if before is not None and before[0] != charted.get("instrument"):
                # re-measured on another instrument: off the old chart, as in SQLite (an
                # empty item in its place: PutItem is all the roles may do there)
                moved: dict[str, Any] = {"instrument": before[0], "chartPoints": {}}
                writes.append(
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": _chart_item(method, moved, first_at, batch_id),
                        }
                    }
                )
        new_keys = {r.key for r in fresh}
        made = [*fresh, *(r for r in queued if r.key not in new_keys)]  # + a group or digest
        for request in made[: TRANSACT_ITEMS - len(writes)]:
            run = request.run or {}
            item = {
                "batchId": _s(batch_id),
                "sk": _s(f"N#{request.key}"),
                "anchor": _s(str(run.get("anchor", ""))),
                "code": _s(str(run.get("code", ""))),
                "affected": _s(json.dumps(run.get("affected", []))),
                "request": _s(request.to_json()),
                "published": {"BOOL": False},
                "leaseUntil": _n(lease_until),
                "version": _n(version + 1),
            }
            if request.key in held:
                item["heldUntil"] = _n(held[request.key])
            if "members" in run:
                item["members"] = _s(json.dumps(run["members"]))
            writes.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(sk)",
                    }
                }
            )
        # Notices another writer committed but never confirmed (it died before queueing
        # them) are taken over once their lease ran out, under a condition on that lease.
        orphans = [
            i
            for i in notices
            if not i.get("published", {}).get("BOOL", False)
            and "heldUntil" not in i  # a held decision is queued by its group or digest
            and float(i.get("leaseUntil", {"N": "0"})["N"]) <= now.timestamp()
        ][: TRANSACT_ITEMS - len(writes)]
        for i in orphans:
            writes.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": {"batchId": i["batchId"], "sk": i["sk"]},
                        "UpdateExpression": "SET leaseUntil = :next",
                        "ConditionExpression": "leaseUntil = :old",
                        "ExpressionAttributeValues": {
                            ":next": _n(lease_until),
                            ":old": i.get("leaseUntil", {"N": "0"}),
                        },
                    }
                }
            )
        try:
            self._db.transact_write_items(TransactItems=writes)
        except ClientError as exc:
            if error_code(exc) in (
                "TransactionCanceledException",
                "ConditionalCheckFailedException",
            ):
                return None  # another writer committed this version first: decide again
            raise InfrastructureError(
                f"runs table TransactWriteItems failed: {describe(exc)}"
            ) from exc
        except BotoCoreError as exc:
            raise InfrastructureError(
                f"runs table TransactWriteItems failed: {describe(exc)}"
            ) from exc
        self._history(batch_id, header, result_verdicts(decision), results, version + 1, now)
        return [NotificationRequest.from_json(i["request"]["S"]) for i in orphans] + queued

    def _policy(self, method: str) -> GroupingPolicy:
        """The method's `[run.notify]` over the lab's grouping policy."""
        config = self.methods[method].run
        return config.notify.policy(self.grouping) if config is not None else self.grouping

    def _hold_and_group(
        self,
        batch_id: str,
        method: str,
        notices: Sequence[Mapping[str, Any]],
        fresh: Sequence[NotificationRequest],
        now: datetime,
        *,
        final: bool,
        digest: NotificationRequest | None,
        current: Current,
    ) -> tuple[list[NotificationRequest], dict[str, float], float | None]:
        """Which notices to queue now (immediate fresh ones, a due group), which fresh ones
        are held (key -> heldUntil), and when the run's open group is due (None: nothing
        held). A decision is covered once a group item (or the digest) lists it in
        `members`; until then it is held. A held decision no longer `current` is left out
        of groups and digests: never sent (uvqc.runs.withdrawal)."""
        policy = self._policy(method)
        covered = {key for i in notices if "members" in i for key in json.loads(i["members"]["S"])}
        waiting = [
            i
            for i in notices
            if "heldUntil" in i
            and i["sk"]["S"][2:] not in covered
            and is_current(i["sk"]["S"][2:], current)
        ]
        due = min((float(i["heldUntil"]["N"]) for i in waiting), default=None)
        members = [NotificationRequest.from_json(i["request"]["S"]) for i in waiting]
        queued: list[NotificationRequest] = []
        held: dict[str, float] = {}
        for request in fresh:
            if policy.is_immediate(str((request.run or {}).get("code", ""))):
                queued.append(request)
            else:
                due = group_due(policy, due, now.timestamp())
                held[request.key] = due
                members.append(request)
        action = flush_action(
            policy, due, now.timestamp(), final=final, digest_sent=digest is not None
        )
        if action is FlushAction.DIGEST and digest is not None:
            run = dict(digest.run or {})
            run["members"] = [m.key for m in members]
            queued.append(replace(digest, run=run))
            return queued, held, None
        if action is FlushAction.GROUP:
            queued.append(
                group_request(
                    batch_id,
                    members,
                    method=method,
                    decided_at=now,
                    interval_seconds=policy.interval_seconds,
                )
            )
            return queued, held, None
        if digest is not None:
            queued.append(digest)  # a final run with nothing held: the digest alone
        return queued, held, due

    def _chart_history(
        self, method: str, instrument: str | None, first_at: str, batch_id: str
    ) -> list[StoredPoints]:
        """(batchId, chart points) of the final runs of (method, instrument) that began
        before this one, in (firstAt, batchId) order (one consistent Query)."""
        items = self._query(
            KeyConditionExpression="batchId = :c AND begins_with(sk, :p)",
            ExpressionAttributeValues={
                ":c": _s(chart_key(method, instrument)),
                ":p": _s(CHART_POINTS),
            },
            ConsistentRead=True,
        )
        earlier = [
            (i["firstAt"]["S"], i["run"]["S"], json.loads(i["points"]["S"]))
            for i in items
            if (i["firstAt"]["S"], i["run"]["S"]) < (first_at, batch_id)
        ]
        return [(run, points) for _, run, points in sorted(earlier, key=lambda e: e[:2])]

    def _history(
        self,
        batch_id: str,
        header: Mapping[str, Any] | None,
        verdicts: Mapping[str, tuple[str, tuple[str, ...]]],
        results: list[RunResult],
        version: int,
        now: datetime,
    ) -> None:
        """V# items for results whose run verdict changed (idempotent per version)."""
        before: dict[str, tuple[str, tuple[str, ...]]] = {}
        if header is not None:
            document = json.loads(header["decision"]["S"])
            for record_id, (verdict, codes) in document.get("meta", {}).get("verdicts", {}).items():
                before[record_id] = (verdict, tuple(codes))
        by_record = {r.record_id: r for r in results}
        items = []
        for record_id, (verdict, codes) in verdicts.items():
            own = by_record[record_id]
            old = before.get(record_id, (own.verdict, own.findings))
            if old == (verdict, codes):
                continue
            items.append(
                {
                    "batchId": _s(batch_id),
                    "sk": _s(f"V#{version:010d}#{record_id}"),
                    "recordId": _s(record_id),
                    "sampleId": _s(own.sample_id),
                    "at": _s(iso(now)),
                    "verdict": _s(verdict),
                    "findings": _s(json.dumps(list(codes))),
                }
            )
        self._batch_write(items)

    # -- reading ----------------------------------------------------------------------

    def list_runs(self) -> list[RunSummary]:
        summaries = []
        for item in self._scan_runs():
            decision = json.loads(item["decision"]["S"]) if "decision" in item else None
            summaries.append(
                summary_from_decision(
                    item["batchId"]["S"],
                    item["method"]["S"],
                    decision,
                    datetime.fromtimestamp(float(item["lastAt"]["N"]), UTC),
                    item.get("status", {}).get("S", "open"),
                )
            )
        return sorted(summaries, key=lambda s: (s.last_at, s.batch_id))

    def show(self, batch_id: str) -> dict[str, Any] | None:
        try:
            response = self._db.get_item(
                TableName=self._table,
                Key={"batchId": _s(batch_id), "sk": _s(RUN)},
                ConsistentRead=True,
            )
        except SDK_ERRORS as exc:
            raise InfrastructureError(f"runs table GetItem failed: {describe(exc)}") from exc
        item = response.get("Item")
        if item is None:
            return None
        if "decision" not in item:
            return empty_document(batch_id, item["method"]["S"], item["status"]["S"])
        document: dict[str, Any] = json.loads(item["decision"]["S"])
        document["meta"]["emails"] = self.emails(batch_id, document["meta"].get("notices"))
        return document

    def emails(
        self, batch_id: str, current: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Which e-mail announced each of the run's decisions, and whether each is still
        current (grouping.coverage): a group or digest item lists the decisions it covers in
        `members`. `current`: the run's current decisions (meta.notices of its decision),
        read from the run item when not given."""
        if current is None:
            current = self._current(batch_id)
        items = sorted(
            self._query(
                KeyConditionExpression="batchId = :b AND begins_with(sk, :n)",
                ExpressionAttributeValues={":b": _s(batch_id), ":n": _s("N#")},
                ConsistentRead=True,
            ),
            key=lambda i: (int(i["version"]["N"]), i["sk"]["S"]),
        )
        kinds = {i["sk"]["S"][2:]: i["code"]["S"] for i in items if "members" in i}
        return coverage(kept_decisions(items), kinds, current)

    def _current(self, batch_id: str) -> dict[str, str] | None:
        """The run's current decisions (anchor -> key) as its decision says; None: none kept
        (every decision counts as current)."""
        try:
            item = self._db.get_item(
                TableName=self._table,
                Key={"batchId": _s(batch_id), "sk": _s(RUN)},
                ConsistentRead=True,
                ProjectionExpression="decision",
            ).get("Item")
        except SDK_ERRORS as exc:
            raise InfrastructureError(f"runs table GetItem failed: {describe(exc)}") from exc
        if item is None or "decision" not in item:
            return None
        current: dict[str, str] | None = (
            json.loads(item["decision"]["S"]).get("meta", {}).get("notices")
        )
        return current

    def verdicts_for_sample(self, sample_id: str) -> list[VerdictChange]:
        """The run verdict changes of a sample's results (sparse GSI `bySample`)."""
        items = self._query(
            IndexName=SAMPLE_INDEX,
            KeyConditionExpression="sampleId = :s",
            ExpressionAttributeValues={":s": _s(sample_id)},
        )
        changes = [
            VerdictChange(
                i["recordId"]["S"],
                i["batchId"]["S"],
                datetime.fromisoformat(i["at"]["S"].replace("Z", "+00:00")),
                i["verdict"]["S"],
                tuple(json.loads(i["findings"]["S"])),
            )
            for i in items
        ]
        return sorted(changes, key=lambda c: (c.at, c.record_id))

    # -- SDK plumbing -----------------------------------------------------------------

    def _query(self, **kwargs: Any) -> Iterator[Mapping[str, Any]]:
        return paginate(self._db.query, "runs table Query", TableName=self._table, **kwargs)

    def _scan_runs(self) -> Iterator[Mapping[str, Any]]:
        return paginate(
            self._db.scan,
            "runs table Scan",
            TableName=self._table,
            FilterExpression="sk = :run",
            ExpressionAttributeValues={":run": _s(RUN)},
        )

    def _batch_write(self, items: Sequence[dict[str, Any]]) -> None:
        # One item per key per request: BatchWriteItem rejects duplicates (a redelivered
        # message in the same batch).
        items = list({(i["batchId"]["S"], i["sk"]["S"]): i for i in items}.values())
        for start in range(0, len(items), BATCH_ITEMS):
            pending: dict[str, Any] = {
                self._table: [
                    {"PutRequest": {"Item": i}} for i in items[start : start + BATCH_ITEMS]
                ]
            }
            for attempt in range(8):
                try:
                    response = self._db.batch_write_item(RequestItems=pending)
                except SDK_ERRORS as exc:
                    raise InfrastructureError(
                        f"runs table BatchWriteItem failed: {describe(exc)}"
                    ) from exc
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(2.0, 0.05 * 2**attempt))
            if pending:
                raise InfrastructureError("runs table BatchWriteItem: items left unprocessed")


def kept_decisions(notices: Sequence[Mapping[str, Any]]) -> list[AnnouncedDecision]:
    """The run decisions among a run's N# items (not its group and digest notices), in the
    order kept, each with the group or digest item that lists it in `members`."""
    covered_by: dict[str, str] = {}
    for i in notices:
        if "members" in i:
            covered_by.update(dict.fromkeys(json.loads(i["members"]["S"]), i["sk"]["S"][2:]))
    kept = []
    for i in notices:
        if i["code"]["S"] not in DECISION_CODES:
            continue
        findings = json.loads(i["request"]["S"]).get("findings") or [{}]
        kept.append(
            AnnouncedDecision(
                i["sk"]["S"][2:],
                i["code"]["S"],
                tuple(json.loads(i["affected"]["S"])),
                float(i["heldUntil"]["N"]) if "heldUntil" in i else None,
                covered_by.get(i["sk"]["S"][2:]),
                i["anchor"]["S"],
                str(findings[0].get("message", "")),
            )
        )
    return kept


def chart_key(method: str, instrument: str | None) -> str:
    """The partition of a (method, instrument) control chart's points in the runs table."""
    return f"{CHART_PREFIX}{method}\x1f{instrument or ''}"


def _chart_item(
    method: str, charted: Mapping[str, Any], first_at: Mapping[str, str], batch_id: str
) -> dict[str, Any]:
    return {
        "batchId": _s(chart_key(method, charted.get("instrument"))),
        "sk": _s(f"{CHART_POINTS}{first_at['S']}#{batch_id}"),
        "run": _s(batch_id),
        "firstAt": dict(first_at),
        "points": _s(json.dumps(charted["chartPoints"], separators=(",", ":"))),
    }


def _charted_instrument(header: Mapping[str, Any] | None) -> tuple[str | None] | None:
    """(instrument,) a run's previous decision put its points on the chart of; None if it
    put none there."""
    if header is None or "decision" not in header:
        return None
    meta = json.loads(header["decision"]["S"]).get("meta", {})
    return (meta.get("instrument"),) if "chartPoints" in meta else None


def run_instrument(items: Sequence[Mapping[str, Any]]) -> str | None:
    """The instrument of a run: the most common `instrument` of its result items (ties: the
    smallest name), as the SQLite store's `run_instruments`; None when none names one."""
    counts: dict[str, int] = {}
    for i in items:
        if i["sk"]["S"].startswith("R#") and "instrument" in i:
            name = i["instrument"]["S"]
            counts[name] = counts.get(name, 0) + 1
    return min(counts, key=lambda n: (-counts[n], n)) if counts else None


class RunVerdictTrace:
    """A TraceSource plus run QC's verdict changes, for `uvqc trace --aws`."""

    def __init__(self, source: Any, runs: DynamoRunStore) -> None:
        self._source = source
        self._runs = runs

    def results_for_sample(self, sample_id: str) -> list[Any]:
        found: list[Any] = self._source.results_for_sample(sample_id)
        return found

    def notifications_for_sample(self, sample_id: str) -> list[Any]:
        found: list[Any] = self._source.notifications_for_sample(sample_id)
        return found

    def run_verdicts_for_sample(self, sample_id: str) -> list[VerdictChange]:
        return self._runs.verdicts_for_sample(sample_id)

    def run_emails_for_sample(self, sample_id: str) -> list[dict[str, Any]]:
        """The run decisions naming the sample (in the runs that changed its verdict) and
        the e-mail that announced each."""
        batches = sorted({c.batch_id for c in self._runs.verdicts_for_sample(sample_id)})
        return [
            {"batchId": batch_id, **e}
            for batch_id in batches
            for e in self._runs.emails(batch_id)
            if sample_id in e["affected"]
        ]
