"""Control charts across runs: QC series, their limits, and the Westgard multirule.

Pure: no I/O. `uvqc.charts.westgard` evaluates points against limits; `uvqc.charts.series`
builds the series (check-standard recovery, blank concentration, duplicate RPD, spike
recovery) from run results and establishes limits the way labs do (from the method file, or
from the first 20 in-control points, then frozen).
"""
