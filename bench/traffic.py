"""A model of real lab traffic for the chaos runs (issue 8): what a week of a water lab's
UV-Vis results looks like on the intake queue.

- Each sample is measured on several days (a station sampled weekly: the same sample ID,
  another `measuredAt` and `batchId`), and some again the same day (a flagged reading
  re-measured diluted, `dilutionFactor` 2).
- A sample can be rejected several times for different reasons (an export with the
  absorbance as text "abc", without an absorbance, with `measuredAt` "yesterday", cut off
  mid-line, ...): each is a distinct result and needs its own e-mail.
- About a tenth of the sample IDs are not ASCII ("Zürichsee Süd 4", "Łódź Wschód 12",
  long ones that fold e-mail headers: "Zürichsee Süd Entnahmestelle 4 Tiefe 12 m").
- Some results are delivered twice (an instrument retry, a re-sent export): half as the
  same bytes, half re-serialised (other key order and whitespace, the same content).

The ground truth of each result: its kind (pass, flag, malformed) and its content identity
(canonical JSON: sorted keys, no whitespace; the raw text when it is not JSON). A redelivery
has the same content; every other result is distinct. Expected e-mails: one per distinct
flagged or rejected content.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

STATIONS = (
    "Zürichsee Süd",
    "Ørestad Brønd",
    "Łódź Wschód",
    "São Gonçalo Represa",
    "Kraków–Wisła",
    "Zürichsee Süd Entnahmestelle {k} Tiefe 12 m",  # long: folds Subject and X- headers
)
DAYS = ("2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27")
MALFORMED_REASONS = (
    "absorbance as text",
    "no absorbance",
    "measuredAt not a date",
    "cut off mid-line",
    "not an object",
    "CSV export line",
)


@dataclass(frozen=True)
class Item:
    """One distinct result and what it should become (the ground truth)."""

    body: bytes
    kind: str  # "pass" | "flag" | "malformed"
    sample_id: str | None  # as a reader of the payload would see it; None if unreadable
    content: str  # identity: canonical JSON, or the raw text
    alt_body: bytes  # the same content serialised differently (a redelivery)
    reason: str = ""  # why malformed


def canonical(body: bytes) -> str:
    """The content identity of a message: canonical JSON (key order and whitespace
    ignored), or the raw text when it is not JSON."""
    try:
        value = json.loads(body)
    except ValueError:
        return body.decode("utf-8", "backslashreplace").strip()
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _item(fields: dict[str, Any], kind: str) -> Item:
    body = json.dumps(fields, ensure_ascii=False).encode()
    alt = json.dumps(dict(reversed(list(fields.items()))), ensure_ascii=False, indent=1).encode()
    return Item(body, kind, str(fields.get("sampleId")), canonical(body), alt)


def _raw(text: str, kind: str, sample: str | None, reason: str) -> Item:
    body = text.encode()
    return Item(body, kind, sample, canonical(body), body, reason)


def _sample_names(count: int, prefix: str) -> list[str]:
    names = []
    for s in range(count):
        if s % 10 == 3:
            station = STATIONS[(s // 10) % len(STATIONS)]
            names.append(station.format(k=s) if "{k}" in station else f"{station} {s}")
        else:
            names.append(f"{prefix}-{s:05d}")
    return names


def _malformed(sample: str, reason: str, when: str, rng: random.Random) -> Item:
    value = round(rng.uniform(0.1, 0.6), 4)
    if reason == "absorbance as text":
        return Item(
            *_json_parts({"sampleId": sample, "absorbance": "abc", "measuredAt": when}),
            reason=reason,
        )
    if reason == "no absorbance":
        return Item(*_json_parts({"sampleId": sample, "measuredAt": when}), reason=reason)
    if reason == "measuredAt not a date":
        fields = {"sampleId": sample, "absorbance": value, "measuredAt": f"yesterday {when}"}
        return Item(*_json_parts(fields), reason=reason)
    if reason == "cut off mid-line":  # the sample ID is readable in the raw text only
        text = json.dumps({"sampleId": sample, "measuredAt": when}, ensure_ascii=False)
        return _raw(text[:-1] + ', "absorb', "malformed", None, reason)
    if reason == "not an object":
        text = json.dumps([sample, value, when], ensure_ascii=False)
        return Item(
            text.encode(), "malformed", None, canonical(text.encode()), text.encode(), reason
        )
    text = f"{sample};{value:.4f};{when};A".replace(".", ",")
    return _raw(text, "malformed", None, reason)


def _json_parts(fields: dict[str, Any]) -> tuple[bytes, str, str | None, str, bytes]:
    item = _item(fields, "malformed")
    return item.body, item.kind, item.sample_id, item.content, item.alt_body


def lab_items(
    n: int,
    *,
    seed: int,
    prefix: str,
    flagged: float = 0.15,
    malformed: float = 0.03,
    readings_per_sample: float = 4.0,
) -> list[Item]:
    """n distinct results of a lab week (see the module docstring): about `flagged` of them
    outside the default method's range, `malformed` unreadable (in groups of three reasons
    for one sample), the rest passing; a flagged reading is re-measured diluted half the
    time."""
    rng = random.Random(seed)
    names = _sample_names(max(1, round(n / readings_per_sample)), prefix)
    items: list[Item] = []
    seen: set[str] = set()
    clock = 0

    def when(day: str) -> str:
        nonlocal clock
        clock += 1
        seconds = 7 * 3600 + (clock * 37) % (11 * 3600)
        return f"{day}T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}+01:00"

    def add(item: Item) -> None:
        if item.content not in seen and len(items) < n:
            seen.add(item.content)
            items.append(item)

    reason = 0
    every = max(1, round(3 / malformed)) if malformed > 0 else 0  # a group of 3 rejects
    loop = 0
    while len(items) < n:
        loop += 1
        sample = names[rng.randrange(len(names))]
        day = DAYS[rng.randrange(len(DAYS))]
        r = rng.random()
        if every and loop % every == every // 2:
            for _ in range(3):  # one sample, three different reasons
                add(_malformed(sample, MALFORMED_REASONS[reason % 6], when(day), rng))
                reason += 1
            continue
        fields: dict[str, Any] = {
            "sampleId": sample,
            "sampleType": "sample",
            "batchId": f"{day}-0{1 + rng.randrange(2)}",
            "instrumentId": "cary60-01",
            "measuredAt": when(day),
            "wavelengthNm": 254,
        }
        if r < flagged:
            high = rng.random() < 0.5
            a = rng.uniform(1.05, 2.5) if high else rng.uniform(0.7, 0.97)
            add(_item({**fields, "absorbance": round(a, 4)}, "flag"))
            if rng.random() < 0.5:  # re-measured the same day, diluted
                again = {**fields, "measuredAt": when(day), "dilutionFactor": 2}
                add(_item({**again, "absorbance": round(rng.uniform(0.2, 0.6), 4)}, "pass"))
            continue
        if rng.random() < 0.5:  # the original shape, as older senders still send it
            body = {"sampleId": sample, "absorbanceResult": f"{rng.uniform(0.02, 0.65):.4f}"}
            add(_item(body, "pass"))
            continue
        add(_item({**fields, "absorbance": round(rng.uniform(0.02, 0.65), 4)}, "pass"))
    return items


def submission_order(n: int, *, seed: int, duplicates: float = 0.05) -> list[tuple[int, bool]]:
    """(item index, re-serialised?) in submission order: every item once, `duplicates`
    share of them a second time somewhere later in the stream (an instrument retry, a
    re-sent export), half of those re-serialised."""
    rng = random.Random(seed + 1)
    keyed: list[tuple[float, int, bool]] = [(float(i), i, False) for i in range(n)]
    for k, i in enumerate(rng.sample(range(n), round(n * duplicates))):
        keyed.append((i + rng.uniform(20, max(40, n / 4)), i, k % 2 == 1))
    return [(i, alt) for _, i, alt in sorted(keyed)]


def body_of(items: list[Item], entry: tuple[int, bool]) -> bytes:
    index, alt = entry
    return items[index].alt_body if alt else items[index].body


def describe(items: list[Item]) -> dict[str, Any]:
    """What the traffic holds, for the report."""
    by_sample: dict[str, set[str]] = {}
    days: dict[str, set[str]] = {}
    for item in items:
        if item.sample_id and item.sample_id != "None":
            by_sample.setdefault(item.sample_id, set()).add(item.content)
            try:
                found = json.loads(item.body).get("measuredAt", "")
            except (ValueError, AttributeError):
                found = ""
            days.setdefault(item.sample_id, set()).add(str(found)[:10])
    return {
        "distinct_results": len(items),
        "samples": len(by_sample),
        "samples_with_several_results": sum(1 for v in by_sample.values() if len(v) > 1),
        "samples_measured_on_several_days": sum(1 for v in days.values() if len(v - {""}) > 1),
        "non_ascii_sample_ids": sum(1 for s in by_sample if not s.isascii()),
        "results_with_non_ascii_ids": sum(
            1 for i in items if i.sample_id and not i.sample_id.isascii()
        ),
        "longest_sample_id": max((len(s) for s in by_sample), default=0),
        "re_measured_diluted": sum(1 for i in items if b'"dilutionFactor": 2' in i.body),
        "malformed_by_reason": {
            r: sum(1 for i in items if i.reason == r) for r in MALFORMED_REASONS
        },
    }
