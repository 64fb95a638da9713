"""Run reports: one self-contained HTML file per run (or per period), with the calibration
curve, the QC table, every result, the reanalysis list, control charts and spectra.

`model` holds the plain data a report shows; `figures` draws it with matplotlib (Agg,
imported only here, never by the check handler); `render` fills a Jinja2 template with
autoescaping, so a sample ID like `<script>` stays text.
"""
