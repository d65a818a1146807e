"""Which files folio reads (by name), and reading local ones for the CLI within the size cap."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from rag._units import byte_size
from rag.errors import DocumentError, FileTooLarge
from rag.ingest._sniff import (
    IMAGE_SUFFIXES,
    OFFICE_SUFFIXES,
    SUPPORTED_SUFFIXES,
    TEXT_SUFFIXES,
    office_format,
)
from rag.types import DocumentKind

__all__ = ["SUPPORTED_SUFFIXES", "expand_paths", "kind_by_name", "read_file"]


def kind_by_name(file_name: str) -> DocumentKind | None:
    """What a file of this name is read as (the bytes decide in the end); None when folio
    does not read such files."""
    suffix = PurePosixPath(file_name).suffix.lower()
    if suffix == ".pdf":
        return "pdf"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in OFFICE_SUFFIXES or TEXT_SUFFIXES.get(suffix) == "csv":
        return office_format(suffix.lstrip(".")).kind
    return "text" if suffix in TEXT_SUFFIXES else None


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
                f"{path.name} is {byte_size(size)}, over folio's {byte_size(max_bytes)} "
                "limit; split it or raise FOLIO_MAX_FILE_MB."
            )
        return path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"{path} could not be read ({exc.strerror}).") from exc
