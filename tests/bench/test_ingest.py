"""bench.ingest's memory summary: folio's anonymous memory as the pages go in."""

from __future__ import annotations

from typing import Any

from bench.ingest import memory_summary


def _trace(anon: list[int]) -> dict[str, Any]:
    # Four files of 25 pages, done at 10, 20, 30 and 40 s; a sample every 5 s from 5 s.
    times = [5.0 * (i + 1) for i in range(len(anon))]
    return {
        "events": [(10.0, 25), (20.0, 50), (30.0, 75), (40.0, 100)],
        "rss_mb": [(t, mb + 500) for t, mb in zip(times, anon, strict=True)],
        "anon_mb": [(t, mb + 50) for t, mb in zip(times, anon, strict=True)],
        "file_mb": [(t, 400) for t in times],
        "folio_anon_mb": list(zip(times, anon, strict=True)),
    }


def test_growth_is_folios_anon_at_the_end_minus_after_the_first_quarter() -> None:
    # The last sample is folio closing, after the last file: models freed.
    summary = memory_summary(_trace([700, 900, 1300, 910, 920, 930, 940, 960, 400]))

    assert summary["folio_anon_at"] == {"25%": 900, "50%": 910, "100%": 960}
    assert summary["anon_growth_mb"] == 60
    # A quarter's peak is its highest sample: the spike stays visible.
    assert summary["folio_anon_peak_by_quarter"] == [700, 1300, 920, 960]
    assert summary["peak_folio_anon_mb"] == 1300
    assert summary["peak_anon_mb"] == 1350
    assert summary["peak_file_mb"] == 400


def test_flat_memory_shows_no_growth() -> None:
    assert memory_summary(_trace([800] * 9))["anon_growth_mb"] == 0


def test_a_report_without_the_kinds_has_only_zero_peaks() -> None:
    old = {"events": [(10.0, 25)], "rss_mb": [(5.0, 1200)]}

    assert memory_summary(old) == {"peak_anon_mb": 0, "peak_file_mb": 0, "peak_folio_anon_mb": 0}
