"""Local files for the CLI: which ones folio reads, and reading them within the size cap."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rag.errors import DocumentError, FileTooLarge
from rag.ingest._sniff import SUPPORTED_SUFFIXES

__all__ = ["SUPPORTED_SUFFIXES", "expand_paths", "read_file"]


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """Files named directly, plus supported files found by recursing into folders, sorted."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                )
            )
        else:
            found.append(path)
    return found


def read_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path``; too large or unreadable files raise a DocumentError."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FileTooLarge(
                f"{path.name} is {size / 1e6:.0f} MB, over folio's {max_bytes / 1e6:.0f} MB "
                "limit; split it or raise FOLIO_MAX_FILE_MB."
            )
        return path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{path} could not be read ({exc.strerror}).") from exc
