"""Digest e-mails parsed back: parts, inline images by Content-ID, size limits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default

from tests.report.conftest import HOSTILE
from uvqc.digest.compose import compose_digest
from uvqc.report.figures import run_figures
from uvqc.report.model import RunReport
from uvqc.report.render import data_uri, render_html

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def parse(data: bytes) -> EmailMessage:
    msg = message_from_bytes(data, policy=default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_a_digest_has_a_complete_text_part_an_html_part_and_inline_figures(
    report: RunReport,
) -> None:
    digest = compose_digest(
        report, key="k1", mail_from="Labor Qualität <qc@lab.example>",
        mail_to=["a@lab.example"], date=NOW, report_html="<html>report</html>",
    )  # fmt: skip
    assert b"\r\n" in digest.data and b"\n" not in digest.data.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in digest.data.split(b"\r\n"))
    msg = parse(digest.data)
    assert msg["Message-ID"] == "<uvqc.digest.k1@lab.example>"
    assert msg["From"].addresses[0].addr_spec == "qc@lab.example"
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    body = text.get_content()
    assert "Run 2026-11-27-N1: FLAG" in body
    assert "CCV at position 31 recovered 84 %" in body
    assert HOSTILE[0] in body  # the text part is complete: the reanalysis list is in it
    assert "Westgard 1-3s" in body
    cids = [p["Content-ID"].strip("<>") for p in msg.walk() if p.get_content_type() == "image/png"]
    assert len(cids) == 2  # calibration curve and the control chart
    images = [p for p in msg.walk() if p.get_content_type() == "image/png"]
    assert {p.get_content_disposition() for p in images} == {"inline"}  # not listed as files
    html_text = html.get_content()
    assert all(f"cid:{cid}" in html_text for cid in cids)
    assert "<script>" not in html_text  # escaped
    attachments = [p.get_filename() for p in msg.iter_attachments()]
    assert "uvqc-run-2026-11-27-N1.html" in attachments
    assert digest.report_attached


def test_the_report_is_left_out_when_the_message_would_be_too_big(report: RunReport) -> None:
    big = "<html>" + "x" * 2_000_000 + "</html>"
    digest = compose_digest(
        report, key="k2", mail_from="qc@lab.example", mail_to=["a@lab.example"],
        date=NOW, report_html=big, max_bytes=1_000_000,
    )  # fmt: skip
    assert not digest.report_attached
    assert len(digest.data) < 1_000_000
    assert not list(parse(digest.data).iter_attachments()) or all(
        p.get_content_type() == "image/png" for p in parse(digest.data).iter_attachments()
    )


def test_a_digest_draws_each_figure_once_for_its_images_and_its_attached_report(
    report: RunReport,
) -> None:
    quiet = replace(report.charts[0], name="blank concentration", violations=())
    run = replace(report, charts=(report.charts[0], quiet))
    figures = run_figures(run, "png")
    html = render_html([run], generated=NOW, figures=[figures])
    digest = compose_digest(
        run, key="k3", mail_from="qc@lab.example", mail_to=["a@lab.example"], date=NOW,
        report_html=html, figures=figures,
    )  # fmt: skip
    msg = parse(digest.data)
    inline = [p.get_content() for p in msg.walk() if p.get_content_type() == "image/png"]
    # the calibration curve and the chart with a violation; not the chart in control
    assert inline == [figures.calibrations[0], figures.charts[0]]
    (attached,) = [p for p in msg.iter_attachments() if p.get_content_type() == "text/html"]
    page = attached.get_content()
    assert "image/svg+xml" not in page
    for png in (*figures.calibrations, *figures.charts):
        assert data_uri(png, "image/png") in page  # the same bytes, drawn once
    assert figures == run_figures(run, "png")  # deterministic


def test_a_digest_without_drawn_figures_draws_the_same_ones(report: RunReport) -> None:
    drawn = compose_digest(
        report, key="k4", mail_from="qc@lab.example", mail_to=["a@lab.example"], date=NOW,
        figures=run_figures(report, "png"), message_id="<m@lab.example>",
    )  # fmt: skip
    own = compose_digest(
        report, key="k4", mail_from="qc@lab.example", mail_to=["a@lab.example"], date=NOW,
        message_id="<m@lab.example>",
    )  # fmt: skip
    images = [
        [p.get_content() for p in parse(d.data).walk() if p.get_content_type() == "image/png"]
        for d in (drawn, own)
    ]
    assert images[0] == images[1] and len(images[0]) == 2


def test_bidi_overrides_in_ids_are_spelled_out_in_headers_text_and_file_name(
    report: RunReport,
) -> None:
    """A right-to-left override in a batch or sample ID would reorder what a mail client
    shows: spelled out (\\u202e) in Subject, X-UVQC-Batch-Id and the text part, as every
    text output of uvqc; the attachment's file name is ASCII."""
    batch = "NO3-\u202eA..\u00e4"
    hostile = replace(report, batch_id=batch)
    digest = compose_digest(
        hostile, key="k2", mail_from="qc@lab.example", mail_to=["a@lab.example"],
        date=NOW, report_html="<html>report</html>",
    )  # fmt: skip
    msg = parse(digest.data)
    assert "\u202e" not in str(msg["Subject"]) and "\\u202e" in str(msg["Subject"])
    assert msg["X-UVQC-Batch-Id"] == "NO3-\\u202eA..\u00e4"
    assert msg["X-UVQC-Verdict"] == report.verdict
    text = msg.get_body(preferencelist=("plain",))
    assert text is not None and "\u202e" not in text.get_content()
    html = msg.get_body(preferencelist=("html",))
    assert html is not None and "\u202e" not in html.get_content()  # the heading too
    (name,) = [p.get_filename() for p in msg.iter_attachments()]
    assert name == "uvqc-run-NO3-_A___.html"


def test_a_digest_sent_again_says_it_is_an_update_and_what_was_withdrawn(
    report: RunReport,
) -> None:
    first = compose_digest(
        report, key="k1", mail_from="qc@lab.example", mail_to=["a@lab.example"], date=NOW
    )
    assert first.get("X-UVQC-Digest-Update") is None
    assert "Withdrawn since announced" not in first.text
    withdrawn = [f"check_standard_failed: Check standard CCV1 recovered 70 % ({HOSTILE[0]})"]
    again = compose_digest(
        report, key="k2", mail_from="qc@lab.example", mail_to=["a@lab.example"], date=NOW,
        update=True, withdrawn=withdrawn,
    )  # fmt: skip
    msg = parse(again.data)
    assert msg["Subject"] == f"{first.subject} (update)" == again.subject
    assert msg["X-UVQC-Digest-Update"] == "true" == again.get("X-UVQC-Digest-Update")
    text = msg.get_body(preferencelist=("plain",))
    assert text is not None
    body = text.get_content().replace("\r\n", "\n")
    assert f"Withdrawn since announced:\n  - {withdrawn[0]}\n" in body
