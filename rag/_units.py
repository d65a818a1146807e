"""Quantities the way people say them: ``50 MB``, ``100 KB``, ``900 bytes``."""

from __future__ import annotations

_UNITS = (("MB", 1024 * 1024), ("KB", 1024))


def byte_size(count: int) -> str:
    """A byte count in binary units, as FOLIO_MAX_FILE_MB counts them (50 MB is 50 × 2²⁰).

    One decimal at most, none when it is zero: ``50 MB``, ``1.5 MB``, ``100 KB``.
    """
    for unit, size in _UNITS:
        if count >= size:
            return f"{count / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{count} bytes"
