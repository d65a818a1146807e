"""Process metrics in Prometheus' text format: counters and latency summaries for /metrics.

Small on purpose: a handful of counters with labels and summaries over a sliding window of
recent observations, rendered as text. One ``Metrics`` per process; no global registry.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Iterable

LabelSet = tuple[tuple[str, str], ...]

# name -> help text; every counter and summary folio exports is declared here.
COUNTERS = {
    "folio_events_received_total": "Slack events received, by event type.",
    "folio_events_deduplicated_total": "Slack events dropped as already handled, by event type.",
    "folio_questions_answered_total": "Questions answered, by source and answer mode.",
    "folio_questions_limited_total": "Questions over a rate limit (told to retry), by source.",
    "folio_ingest_total": "Shared files indexed, by result (ok or failed).",
    "folio_errors_total": "Errors reported to users or logged, by error class.",
    "folio_outage_replies_total": "Apologies for questions asked while a store was down.",
}
SUMMARIES = {
    "folio_answer_seconds": "Time from question to posted answer.",
    "folio_ingest_seconds": "Time to download and index one shared file.",
    "folio_event_loop_lag_seconds": "How late the event loop woke a timer (sampled every 50 ms).",
}
QUANTILES = (0.5, 0.9, 0.99)
WINDOW = 1000


class _Summary:
    """Count and sum since start, quantiles over the last ``WINDOW`` observations."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.recent: deque[float] = deque(maxlen=WINDOW)

    def observe(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.recent.append(value)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.recent)
        if not ordered:
            return math.nan
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


class Metrics:
    """Counters and summaries of one process, rendered for Prometheus by ``render``."""

    def __init__(self) -> None:
        self._counters: dict[str, dict[LabelSet, float]] = {name: {} for name in COUNTERS}
        self._summaries: dict[str, _Summary] = {name: _Summary() for name in SUMMARIES}

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        """Add ``amount`` to the counter ``name`` with these labels."""
        series = self._counters[name]
        key = tuple(sorted(labels.items()))
        series[key] = series.get(key, 0.0) + amount

    def observe(self, name: str, seconds: float) -> None:
        """Record one latency in the summary ``name``."""
        self._summaries[name].observe(seconds)

    def value(self, name: str, **labels: str) -> float:
        """The current value of one counter series (0 when never incremented)."""
        return self._counters[name].get(tuple(sorted(labels.items())), 0.0)

    def count(self, name: str) -> int:
        """How many observations a summary has seen."""
        return self._summaries[name].count

    def render(self) -> str:
        """All metrics in the Prometheus text exposition format (version 0.0.4)."""
        lines: list[str] = []
        for name, series in self._counters.items():
            lines += [f"# HELP {name} {COUNTERS[name]}", f"# TYPE {name} counter"]
            lines += [f"{name}{_labels(key)} {_number(v)}" for key, v in sorted(series.items())]
        for name, summary in self._summaries.items():
            lines += [f"# HELP {name} {SUMMARIES[name]}", f"# TYPE {name} summary"]
            for q in QUANTILES:
                lines.append(
                    f"{name}{_labels([('quantile', str(q))])} {_number(summary.quantile(q))}"
                )
            lines.append(f"{name}_sum {_number(summary.total)}")
            lines.append(f"{name}_count {summary.count}")
        return "\n".join(lines) + "\n"


LAG_INTERVAL_S = 0.05


async def watch_event_loop(metrics: Metrics, *, interval_s: float = LAG_INTERVAL_S) -> None:
    """Sample the event loop's lag until cancelled: how late a timer wakes ``interval_s`` on.

    Anything that holds the loop (or the GIL) for a while shows up here; the bot exports it
    as ``folio_event_loop_lag_seconds`` (the load benchmark reads its p99).
    """
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(interval_s)
        metrics.observe(
            "folio_event_loop_lag_seconds", max(0.0, loop.time() - started - interval_s)
        )


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    body = ",".join(f'{key}="{_escape(value)}"' for key, value in pairs)
    return f"{{{body}}}" if body else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return str(int(value)) if value == int(value) else repr(value)
