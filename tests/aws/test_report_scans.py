"""`uvqc report --aws` and the digest function show the scans of a run's flagged samples,
read from the records table (moto over HTTP), as the embedded report does from SQLite."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.runs.builder import T0, result
from tests.runs.grouped_run import BATCH, METHOD, grouped_run, method_data
from uvqc.adapters.dynamodb import DynamoRecordStore
from uvqc.adapters.dynamodb_report import DynamoReportSource
from uvqc.adapters.dynamodb_runs import DynamoRunStore
from uvqc.core.methods import MethodBook, method_from_mapping
from uvqc.core.verdicts import Judgement, Verdict
from uvqc.pipeline.records import ResultRecord
from uvqc.report.assemble import report_for
from uvqc.runs.notices import RunArrival

from .conftest import make_records_table, make_runs_table
from .test_runs import AwsFactory

SCAN = {"wavelengthNm": [200.0, 210.0, 220.0], "absorbance": [0.9, 0.7, 0.5]}


def test_the_scans_of_flagged_samples_come_from_the_records_table(aws: AwsFactory) -> None:
    db = aws("dynamodb")
    book = MethodBook([method_from_mapping(method_data())])
    runs = DynamoRunStore(db, make_runs_table(db), book)
    records = DynamoRecordStore(db, make_records_table(db))
    run = grouped_run()
    stored = []
    for message in run:
        record_id = f"r{message['sequence']}"
        judgement = Judgement(message["sampleId"], Verdict.PASS, (), METHOD)
        stored.append(
            ResultRecord.create(
                record_id=record_id,
                judgement=judgement,
                raw=json.dumps({**message, "spectrum": SCAN}, ensure_ascii=False),
                received_at=T0,
                checked_at=T0,
                correlation_id=record_id,
            )
        )
    records.save_results(stored)
    arrivals = [RunArrival(BATCH, METHOD, result(m, record_id=f"r{m['sequence']}")) for m in run]
    runs.track(arrivals, now=T0)
    runs.finalise_quiet(now=T0 + timedelta(hours=2))

    with_scans = report_for(DynamoReportSource(runs, records), book, BATCH)
    without = report_for(DynamoReportSource(runs), book, BATCH)
    assert with_scans is not None and without is not None
    assert without.spectra == ()
    flagged = {r.sample_id for r in with_scans.results if r.verdict != "pass"}
    shown = {s.sample_id for s in with_scans.spectra}
    assert len(shown) == 12 and shown <= flagged  # the first 12 by position (SPECTRA_SHOWN)
    assert with_scans.spectra[0].wavelength_nm == tuple(SCAN["wavelengthNm"])
