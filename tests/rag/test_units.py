"""byte_size, the one way folio says how big a file is, and the messages that use it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag import FileTooLarge, byte_size
from rag.ingest._files import read_file

MiB = 1024 * 1024


@pytest.mark.parametrize(
    ("count", "said"),
    [
        (50 * MiB, "50 MB"),
        (MiB + MiB // 2, "1.5 MB"),
        (100 * 1024, "100 KB"),
        (1000, "1000 bytes"),
        (0, "0 bytes"),
    ],
)
def test_byte_counts_read_the_way_people_say_them(count: int, said: str) -> None:
    assert byte_size(count) == said


def test_a_local_file_over_a_50_mb_limit_is_told_the_limit_is_50_mb(tmp_path: Path) -> None:
    big = tmp_path / "big.pdf"
    with big.open("wb") as handle:
        handle.truncate(60 * MiB)  # sparse: the size is what matters, not the bytes

    with pytest.raises(FileTooLarge) as caught:
        read_file(big, max_bytes=50 * MiB)

    assert caught.value.user_message.startswith("big.pdf is 60 MB, over folio's 50 MB limit")
