"""Figures of a run report and a digest e-mail, drawn with matplotlib's Agg backend (offline,
no display): the calibration curve with its residuals, Levey-Jennings control charts, and
scans. SVG for the HTML report (crisp in print), PNG for e-mail (what mail clients show);
a digest draws each figure once, as PNG, for its inline images and its attached report
(`run_figures`).

Fixed margins, not matplotlib's constrained layout: the layout engine measured every tick
label of every axis on each save and took about two thirds of a figure's time (profiled on
the run-report bench: 0.32 s -> 0.09 s per control chart). Titles and labels are short (IDs
are cut), so fixed margins fit them.

matplotlib is imported inside the functions: only the report and digest paths pay for it.
Text from instruments (batch IDs, sample IDs) is drawn with math parsing off, so a `$` in an
ID is a dollar sign, not TeX.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from uvqc.report.model import Calibration, ChartSeries, RunReport, ScanPlot

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Format = Literal["svg", "png"]
_RC: dict[Any, Any] = {
    "text.parse_math": False,
    "svg.hashsalt": "uvqc",  # deterministic ids: the same run gives the same bytes
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    # A fixed title position: otherwise every draw measures the axis' tick labels to lift
    # the title clear of them (a third of a chart's drawing time; the x ticks are below).
    "axes.titley": 1.0,
}
LABELS_SHOWN = 30
DPI = 110  # PNG: 7 in x 110 dpi = 770 px, the width of an e-mail body; SVG ignores it
# Fixed margins (fractions of the figure) that fit the y tick labels, the axis labels and a
# title line at font size 9 on the figure sizes below.
_MARGINS = {"left": 0.1, "right": 0.98, "top": 0.9, "bottom": 0.15, "hspace": 0.35}


@contextmanager
def _figure(
    width: float, height: float, rows: int = 1, ratios: Sequence[int] = (1,)
) -> Iterator[tuple[Figure, list[Axes]]]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(width, height))
        fig.subplots_adjust(left=0.11, right=0.98, top=0.9, bottom=0.15, hspace=0.3)
        axes = list(
            fig.subplots(rows, 1, gridspec_kw={"height_ratios": list(ratios)}, squeeze=False)[:, 0]
        )
        yield fig, axes


def _save(fig: Figure, fmt: Format) -> bytes:
    buf = io.BytesIO()
    metadata: dict[str, Any] = {"Date": None} if fmt == "svg" else {"Software": None}
    fig.savefig(buf, format=fmt, dpi=DPI, metadata=metadata)
    return buf.getvalue()


def calibration_figure(cal: Calibration, fmt: Format = "svg") -> bytes:
    """Standards (nominal vs absorbance), the fitted curve over the calibrated range, and
    each standard's back-calculation error (%) beneath."""
    with _figure(6.0, 4.6, rows=2, ratios=(3, 1)) as (fig, (ax, res)):
        xs = [s.nominal for s in cal.standards]
        ys = [s.absorbance for s in cal.standards]
        ok = [s.passed for s in cal.standards]
        if xs:
            top = max(xs) * 1.08 or 1.0
            grid = [top * i / 100 for i in range(101)]
            ax.plot(
                grid, [cal.absorbance_at(x) for x in grid], color="#1f5fa8", lw=1.4, label="fit"
            )
            low, high = min(xs), max(xs)
            ax.axvspan(low, high, color="#1f5fa8", alpha=0.07, label="calibrated range")
        ax.scatter(
            [x for x, good in zip(xs, ok, strict=True) if good],
            [y for y, good in zip(ys, ok, strict=True) if good],
            color="#1b7f3b",
            zorder=3,
            label="standard",
        )
        bad = [(x, y) for x, y, good in zip(xs, ys, ok, strict=True) if not good]
        if bad:
            ax.scatter(
                [b[0] for b in bad],
                [b[1] for b in bad],
                color="#c0392b",
                marker="x",
                s=60,
                zorder=4,
                label="out of tolerance",
            )
        r = "" if cal.r is None else f", r = {cal.r:.5f}"
        ax.set_title(f"Calibration ({cal.model.replace('_', ' ')}{r})")
        ax.set_ylabel("absorbance (A)")
        ax.legend(loc="upper left", fontsize=8)
        errors = [(s.nominal, s.error_pct) for s in cal.standards if s.error_pct is not None]
        if errors:
            res.axhline(0, color="#555", lw=0.8)
            res.bar(
                [e[0] for e in errors],
                [e[1] for e in errors],
                width=max(xs) / 40 if xs else 0.1,
                color="#7a7a7a",
            )
        res.set_xlim(ax.get_xlim())  # each bar beneath its standard
        res.set_ylabel("error %")
        res.set_xlabel(f"concentration ({cal.units})")
        return _save(fig, fmt)


def control_chart_figure(series: ChartSeries, fmt: Format = "svg") -> bytes:
    """A Levey-Jennings chart: points in time order, centre line, +-1/2/3 SD, this run's
    points filled in orange, violations ringed in red."""
    with _figure(7.0, 3.0) as (fig, (ax,)):
        xs = list(range(1, len(series.points) + 1))
        values = [p.value for p in series.points]
        ax.plot(xs, values, color="#888", lw=0.8)
        mine = [i for i, p in enumerate(series.points) if p.batch_id == series.highlight_batch]
        ax.scatter(xs, values, s=14, color="#1f5fa8", zorder=3)
        if mine:
            ax.scatter(
                [xs[i] for i in mine],
                [values[i] for i in mine],
                s=36,
                color="#e67e22",
                zorder=4,
                label="this run",
            )
        flagged = sorted({i for v in series.violations for i in v.points})
        if flagged:
            ax.scatter(
                [xs[i] for i in flagged],
                [values[i] for i in flagged],
                s=110,
                facecolors="none",
                edgecolors="#c0392b",
                lw=1.5,
                zorder=5,
                label="Westgard violation",
            )
        if series.limits is not None:
            m, sd = series.limits.mean, series.limits.sd
            ax.axhline(m, color="#1b7f3b", lw=1.2)
            for k, style in ((1, ":"), (2, "--"), (3, "-")):
                for sign in (1, -1):
                    ax.axhline(
                        m + sign * k * sd, color="#c0392b" if k == 3 else "#999", ls=style, lw=0.9
                    )
        ax.set_title(f"{series.name} ({series.unit})")
        ax.set_xlabel("QC point (oldest first)")
        if mine or flagged:
            ax.legend(loc="best", fontsize=8)
        return _save(fig, fmt)


def spectrum_figure(scans: Sequence[ScanPlot], fmt: Format = "svg") -> bytes:
    """The scans of flagged samples, absorbance against wavelength (one line each)."""
    with _figure(7.0, 3.2) as (fig, (ax,)):
        for scan in scans[:LABELS_SHOWN]:
            ax.plot(scan.wavelength_nm, scan.absorbance, lw=1.0, label=scan.sample_id[:40])
        ax.set_xlabel("wavelength (nm)")
        ax.set_ylabel("absorbance (A)")
        ax.set_title("Scans of flagged samples")
        if scans:
            ax.legend(loc="best", fontsize=7)
        return _save(fig, fmt)


@dataclass(frozen=True, slots=True)
class RunFigures:
    """Every figure of one run report, drawn once in one format: a calibration curve per
    calibration block, a control chart per chart, the scans (None: no scans)."""

    fmt: Format
    calibrations: tuple[bytes, ...]
    charts: tuple[bytes, ...]
    spectra: bytes | None


def run_figures(run: RunReport, fmt: Format = "svg") -> RunFigures:
    """The figures `run`'s report shows, in report order."""
    return RunFigures(
        fmt,
        tuple(calibration_figure(c, fmt) for c in run.calibrations),
        tuple(control_chart_figure(c, fmt) for c in run.charts),
        spectrum_figure(run.spectra, fmt) if run.spectra else None,
    )
