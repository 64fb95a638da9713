"""uvqc: quality control for UV-Vis spectrophotometer results."""
