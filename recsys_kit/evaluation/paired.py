"""Paired statistics of two runs' per-user values: mean difference, paired t-test, bootstrap
confidence interval. Plain numpy (scipy is not a dependency): the t distribution's tail comes
from the regularised incomplete beta function, evaluated by its continued fraction."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Resamples drawn at once by the bootstrap (bounds memory: CHUNK x users indices).
CHUNK = 500


@dataclass(frozen=True)
class PairedResult:
    """B minus A over users present in both: ``n`` pairs, mean difference, the paired t-test's
    two-sided p-value (``t`` its statistic) and the bootstrap 95 % CI of the mean difference.
    p and the CI are NaN with fewer than two pairs."""

    n: int
    mean_a: float
    mean_b: float
    mean_diff: float
    t: float
    p_value: float
    ci_low: float
    ci_high: float


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with ``df`` degrees of freedom."""
    if math.isnan(t):
        return float("nan")
    if math.isinf(t):
        return 0.0
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def bootstrap_ci(diff: np.ndarray, resamples: int, seed: int,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``diff`` (users resampled with
    replacement, ``resamples`` times, from ``seed``)."""
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    for start in range(0, resamples, CHUNK):
        size = min(CHUNK, resamples - start)
        means[start:start + size] = diff[rng.integers(0, len(diff), (size, len(diff)))].mean(1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def paired(a: np.ndarray, b: np.ndarray, *, resamples: int = 10_000, seed: int = 0
           ) -> PairedResult:
    """Compare per-user values ``a`` and ``b`` (aligned: the same user at each index); pairs
    where either is NaN are left out. ``resamples=0`` skips the bootstrap (CI NaN)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    n = len(a)
    if n == 0:
        nan = float("nan")
        return PairedResult(0, nan, nan, nan, nan, nan, nan, nan)
    diff = b - a
    mean = float(diff.mean())
    if n < 2:
        t = p = low = high = float("nan")
    else:
        sd = float(diff.std(ddof=1))
        if sd == 0.0:  # every user moved by the same amount
            t = 0.0 if mean == 0.0 else math.copysign(math.inf, mean)
            p = 1.0 if mean == 0.0 else 0.0
        else:
            t = mean / (sd / math.sqrt(n))
            p = t_two_sided_p(t, n - 1)
        low, high = bootstrap_ci(diff, resamples, seed) if resamples else (math.nan, math.nan)
    return PairedResult(n, float(a.mean()), float(b.mean()), mean, t, p, low, high)
