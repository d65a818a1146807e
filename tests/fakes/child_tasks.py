"""Module-level functions for run_isolated tests (a child process imports them by name)."""

from __future__ import annotations

import os
import sys
import time

from rag.errors import EncryptedDocument


def add(a: int, b: int) -> int:
    """Return a + b."""
    return a + b


def echo_bytes(data: bytes) -> bytes:
    """Return the bytes it was given."""
    return data


def sleep_forever() -> None:
    """Never return."""
    while True:
        time.sleep(3600)


def abort() -> None:
    """Die by SIGABRT."""
    os.abort()


def exit_with(code: int) -> None:
    """Exit at once with ``code``, skipping all cleanup."""
    os._exit(code)


def allocate(megabytes: int) -> int:
    """Allocate and touch ``megabytes`` of memory."""
    block = bytearray(megabytes * 1024 * 1024)
    return len(block)


def raise_encrypted(user_message: str) -> None:
    """Raise a FolioError with ``user_message``."""
    raise EncryptedDocument(user_message, detail="raised in the child")


def raise_key_error() -> None:
    """Raise an ordinary exception."""
    raise KeyError("no such thing")


def loaded_modules() -> list[str]:
    """Names of the modules the child has imported (not the ones blocked with None)."""
    return sorted(name for name, module in sys.modules.items() if module is not None)


def environment() -> dict[str, str]:
    """The child's environment."""
    return dict(os.environ)


def write_pid_and_sleep(path: str) -> None:
    """Write this process's id to ``path``, then never return."""
    with open(path, "w") as f:
        f.write(str(os.getpid()))
    sleep_forever()


def modules_after_parsing() -> list[str]:
    """Parse a small PDF in this process; return the names of the modules it imported."""
    from rag.ingest._parse import parse_sync
    from rag.settings import ParseLimits
    from tests.fakes.documents import text_pdf

    parse_sync(text_pdf(["one page"]), "one.pdf", ParseLimits())
    return loaded_modules()


def pid() -> int:
    """This process's id."""
    return os.getpid()


def print_and_return(value: str) -> str:
    """Print to stdout (which a pool child must keep off its replies), then return ``value``."""
    print("noise from a library", flush=True)
    return value


def pid_unless_pooled() -> int:
    """This process's id in a one-shot child; a pool child (``--serve``) aborts instead."""
    if "--serve" in sys.argv:
        os.abort()
    return os.getpid()
