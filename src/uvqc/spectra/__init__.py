"""Spectra: scan-level QC rules and the water-quality indices computed from a scan.

Pure functions over a result's `spectrum` (and its single reading), no I/O and no numpy:
a scan holds hundreds of points, and plain Python keeps the check Lambda's import time and
memory as they are (numbers in docs/PERFORMANCE.md, definitions in docs/SPECTRA.md).

- `uvqc.spectra.indices`: UV254, a254, SUVA254, E2:E3, spectral slopes, nitrate screening.
- `uvqc.spectra.quality`: spikes, noise, lamp-changeover step, baseline offset, flat tops,
  resolution and coverage rules, registered in the rule registry like the core rules.
"""
