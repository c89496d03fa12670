"""Fixed histogram bucket bounds for latency and metric rollups.

Rollups store one counter per bucket so that histograms from many batches,
minutes and instances merge by plain addition (``b03 = b03 + excluded.b03``)
and percentiles can be estimated later without raw rows. The bounds are the
familiar Prometheus-style ladder in milliseconds; the last bucket is +Inf.
The SDK uses the same bounds for its client-side timing histograms.
"""

from __future__ import annotations

import bisect
import math

BOUNDS: tuple[float, ...] = (
    0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, math.inf,
)
COLUMNS: tuple[str, ...] = tuple(f"b{i:02d}" for i in range(len(BOUNDS)))


def bucket_index(value: float) -> int:
    """Index of the first bucket whose upper bound is >= value."""
    if not value > 0:  # also catches NaN
        return 0
    return bisect.bisect_left(BOUNDS, value)


def quantile(counts: list[int] | tuple[int, ...], q: float) -> float | None:
    """Estimate the q-quantile (0..1) from bucket counts by linear interpolation.

    Interpolates inside the bucket like Prometheus' ``histogram_quantile``; the
    +Inf bucket answers with the largest finite bound.
    """
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0.0
    for i, count in enumerate(counts):
        if count and seen + count >= rank:
            upper = BOUNDS[i]
            lower = BOUNDS[i - 1] if i else 0.0
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * ((rank - seen) / count)
        seen += count
    return BOUNDS[-2]
