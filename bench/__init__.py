"""Benchmarks and reliability runs: `make bench` regenerates docs/PERFORMANCE.md and
docs/RELIABILITY.md. Figures, not tests: nothing here fails on a slow machine."""
