"""The load benchmark's verdicts against issue 13's targets, and its chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

TARGETS = {"steady_ack_p99_ms": 100, "burst_ack_p99_ms": 1000, "loop_lag_p99_ms": 50}
TARGET_RSS_MB = {"rest": 1536, "answering": 2048}


def verdicts(report: dict[str, Any]) -> dict[str, bool]:
    burst = report["burst"]
    return {
        "steady_ack_p99": report["steady"]["ack_ms"]["p99"] < TARGETS["steady_ack_p99_ms"],
        "steady_answered_once": report["steady"]["answered"] == report["steady"]["mentions"]
        and report["steady"]["duplicates"] == 0,
        "burst_ack_p99": burst["ack_ms"]["p99"] < TARGETS["burst_ack_p99_ms"],
        "burst_answered_once": burst["answered"] == burst["mentions"] and burst["duplicates"] == 0,
        "loop_lag_p99": report["indexing"]["loop_lag_p99_ms"] < TARGETS["loop_lag_p99_ms"],
        "rss_rest": report["rss_rest_mb"]["serve"] < TARGET_RSS_MB["rest"],
        "rss_answering": burst["rss_peak_mb"]["serve"] < TARGET_RSS_MB["answering"],
    }


def plot(report: dict[str, Any], path: Path) -> None:
    """Ack p50/p99 per phase, loop lag, and memory against their targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (acks, lag, memory) = plt.subplots(1, 3, figsize=(15, 4.5))
    phases = ("steady", "burst", "indexing")
    for offset, key in ((-0.2, "p50"), (0.2, "p99")):
        acks.bar(
            [i + offset for i in range(3)],
            [report[p]["ack_ms"][key] for p in phases],
            0.4,
            label=key,
        )
    acks.axhline(TARGETS["steady_ack_p99_ms"], color="#c63", ls="--", label="steady p99 target")
    acks.axhline(TARGETS["burst_ack_p99_ms"], color="#933", ls=":", label="burst p99 target")
    acks.set_xticks(
        range(3), [f"{p}\n{report[p]['answered']}/{report[p]['mentions']} answered" for p in phases]
    )
    acks.set_yscale("log")
    acks.set_ylabel("ack latency, ms")
    acks.legend(fontsize=8)
    indexing = report["indexing"]
    lag.bar(
        ["p50", "p99"], [indexing["loop_lag_p50_ms"], indexing["loop_lag_p99_ms"]], color="#2a7"
    )
    lag.axhline(TARGETS["loop_lag_p99_ms"], color="#c63", ls="--", label="p99 target")
    lag.set_title(f"event-loop lag while indexing {indexing['pages_indexing']} pages")
    lag.set_ylabel("ms")
    lag.legend(fontsize=8)
    rss = [report["rss_rest_mb"]["serve"], report["burst"]["rss_peak_mb"]["serve"]]
    tree = [report["rss_rest_mb"]["tree"], report["burst"]["rss_peak_mb"]["tree"]]
    memory.bar([-0.2, 0.8], rss, 0.4, label="folio serve")
    memory.bar([0.2, 1.2], tree, 0.4, label="with its children")
    memory.plot([-0.4, 0.4], [TARGET_RSS_MB["rest"]] * 2, color="#c63", ls="--")
    memory.plot([0.6, 1.4], [TARGET_RSS_MB["answering"]] * 2, color="#c63", ls="--", label="target")
    memory.set_xticks([0, 1], ["at rest", f"answering {report['burst']['mentions']} at once"])
    memory.set_ylabel("RSS, MB")
    memory.legend(fontsize=8)
    fig.suptitle(f"folio serve under load ({report['machine']}), {report['commit']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
