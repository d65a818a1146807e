"""bench.ingest's memory summary: folio's anonymous memory as the pages go in."""

from __future__ import annotations

from typing import Any

from bench.ingest import memory_summary


def _trace(anon: list[int]) -> dict[str, Any]:
    # Five files, done at 10, 20, 30, 40 and 50 s; a sample every 5 s from 5 s.
    times = [5.0 * (i + 1) for i in range(len(anon))]
    return {
        "events": [(10.0, 10), (20.0, 30), (30.0, 50), (40.0, 80), (50.0, 100)],
        "rss_mb": [(t, mb + 500) for t, mb in zip(times, anon, strict=True)],
        "anon_mb": [(t, mb + 50) for t, mb in zip(times, anon, strict=True)],
        "file_mb": [(t, 400) for t in times],
        "folio_anon_mb": list(zip(times, anon, strict=True)),
    }


def test_growth_is_what_folio_keeps_at_the_end_minus_after_the_first_quarter() -> None:
    # A spike of one batch (1300) and folio closing after the last file (400).
    anon = [700, 900, 1300, 910, 950, 920, 1000, 960, 990, 970, 400]

    summary = memory_summary(_trace(anon))

    # The lowest sample while the file that crossed each share was indexed.
    assert summary["folio_anon_at"] == {"25%": 900, "50%": 910, "100%": 960}
    assert summary["anon_growth_mb"] == 60
    # A quarter's peak is its highest sample: the spike stays visible.
    assert summary["folio_anon_peak_by_quarter"] == [1300, 950, 1000, 990]
    assert summary["peak_folio_anon_mb"] == 1300
    assert summary["peak_anon_mb"] == 1350
    assert summary["peak_file_mb"] == 400


def test_a_last_file_indexed_between_two_samples_counts_the_sample_before_it() -> None:
    trace = _trace([700, 900, 1300, 910, 950, 920, 1000, 960, 990, 970, 400])
    # The fifth file done at 52 s, a small sixth 0.2 s later: no sample fell in between.
    trace["events"] = [*trace["events"][:-1], (52.0, 98), (52.2, 100)]

    summary = memory_summary(trace)

    assert summary["folio_anon_at"]["100%"] == 970  # the last sample before 52.2 s (at 50 s)
    assert summary["anon_growth_mb"] == 70


def test_flat_memory_shows_no_growth() -> None:
    assert memory_summary(_trace([800] * 11))["anon_growth_mb"] == 0


def test_a_report_without_the_kinds_has_only_zero_peaks() -> None:
    old = {"events": [(10.0, 25)], "rss_mb": [(5.0, 1200)]}

    assert memory_summary(old) == {"peak_anon_mb": 0, "peak_file_mb": 0, "peak_folio_anon_mb": 0}
