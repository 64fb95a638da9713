"""Calibration fits by weighted least squares, in closed form (no numpy).

absorbance = c0 + c1 x + c2 x^2, x the nominal concentration: `linear` fits c0 and c1,
`linear_through_zero` c1 only, `quadratic` all three, each from the normal equations
(X^T W X) c = X^T W y solved by Gaussian elimination with partial pivoting (at most 3x3).
Weighting `none` gives every standard weight 1; `1/x` gives weight 1/x and leaves out
standards of nominal 0, whose weight would be infinite (the usual practice of
chromatography data systems; they are still back-calculated). r is the Pearson correlation
of nominal and absorbance over all standards, unweighted, as SM 4020 B quotes it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MODELS = {"linear": (0, 1), "linear_through_zero": (1,), "quadratic": (0, 1, 2)}


@dataclass(frozen=True, slots=True)
class Fit:
    """A fitted curve: absorbance = c0 + c1 x + c2 x^2 (unused terms are 0)."""

    model: str
    coefficients: tuple[float, float, float]

    @property
    def intercept(self) -> float:
        return self.coefficients[0]

    @property
    def slope(self) -> float:
        return self.coefficients[1]

    def absorbance(self, x: float) -> float:
        c0, c1, c2 = self.coefficients
        return c0 + c1 * x + c2 * x * x

    def concentration(self, absorbance: float) -> float | None:
        """The inverse: the concentration (in-cuvette) that reads `absorbance`; None when the
        curve never reaches it (a flat line, or beyond a quadratic's vertex)."""
        c0, c1, c2 = self.coefficients
        if c2 == 0.0:
            return None if c1 == 0.0 else (absorbance - c0) / c1
        # The root on the rising branch, in the form stable for small c2:
        # x = 2 (A - c0) / (c1 + sqrt(c1^2 - 4 c2 (c0 - A))).
        disc = c1 * c1 - 4.0 * c2 * (c0 - absorbance)
        if disc < 0:
            return None
        denominator = c1 + math.sqrt(disc)
        return None if denominator == 0.0 else 2.0 * (absorbance - c0) / denominator


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float] | None:
    """Gaussian elimination with partial pivoting; None when (nearly) singular."""
    n = len(vector)
    a = [[*row, v] for row, v in zip(matrix, vector, strict=True)]
    scale = max((abs(x) for row in matrix for x in row), default=0.0)
    if scale == 0.0:
        return None
    for col in range(n):
        pivot = max(range(col, n), key=lambda i: abs(a[i][col]))
        if abs(a[pivot][col]) <= 1e-12 * scale:
            return None
        a[col], a[pivot] = a[pivot], a[col]
        for i in range(col + 1, n):
            factor = a[i][col] / a[col][col]
            for j in range(col, n + 1):
                a[i][j] -= factor * a[col][j]
    solution = [0.0] * n
    for i in reversed(range(n)):
        acc = a[i][n] - sum(a[i][j] * solution[j] for j in range(i + 1, n))
        solution[i] = acc / a[i][i]
    return solution


def fit(points: Sequence[tuple[float, float]], model: str, weighting: str = "none") -> Fit | None:
    """Fit (nominal, absorbance) points; None when they do not determine the model (too few
    points, or all at one concentration)."""
    powers = MODELS[model]
    if weighting == "1/x":
        used = [(x, y, 1.0 / x) for x, y in points if x > 0]
    else:
        used = [(x, y, 1.0) for x, y in points]
    if len(used) < len(powers):
        return None
    matrix = [[sum(w * x ** (p + q) for x, _, w in used) for q in powers] for p in powers]
    vector = [sum(w * y * x**p for x, y, w in used) for p in powers]
    solution = _solve(matrix, vector)
    if solution is None or not all(math.isfinite(c) for c in solution):
        return None
    coefficients = [0.0, 0.0, 0.0]
    for p, c in zip(powers, solution, strict=True):
        coefficients[p] = c
    return Fit(model, (coefficients[0], coefficients[1], coefficients[2]))


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r; None when undefined (fewer than 2 points, or no spread in x or y)."""
    n = len(xs)
    if n < 2:
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    if sxx == 0.0 or syy == 0.0:
        return None
    return sxy / math.sqrt(sxx * syy)
