"""Latency summaries the benchmarks report."""

from __future__ import annotations

import statistics


def percentiles(values: list[float], points: tuple[int, ...] = (50, 95)) -> dict[str, float]:
    """n, the percentiles ``points`` (p50, p95…), mean and max of a list of milliseconds."""
    cuts = (
        statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values * 99
    )
    summary: dict[str, float] = {"n": len(values)}
    summary.update({f"p{point}": round(cuts[point - 1], 1) for point in points})
    summary.update(mean=round(statistics.fmean(values), 1), max=round(max(values), 1))
    return summary
