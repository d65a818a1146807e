"""Translate database driver errors into rag.errors.StoreError, once, at the repository edge."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import exc as sa_exc

from rag.errors import FolioError, StoreError

P = ParamSpec("P")
R = TypeVar("R")

# What a broken, locked, full or unreachable database raises through SQLAlchemy and its drivers.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.DBAPIError,
    sa_exc.TimeoutError,
    sa_exc.ResourceClosedError,
    OSError,
    TimeoutError,
)


def store_error(exc: BaseException, action: str) -> StoreError:
    """A StoreError for a failed database ``action``; the driver's text goes to ``detail``.

    The ``user_message`` stays the generic "storage is unavailable" one because it may reach a
    Slack channel; operators read ``detail``, which names DATABASE_URL for connection failures.
    """
    detail = f"database error while {action}: {type(exc).__name__}: {exc}"
    if is_connect_error(exc):
        detail += " (is the database named by DATABASE_URL running and reachable?)"
    return StoreError(detail=detail)


def is_connect_error(exc: BaseException) -> bool:
    """True when ``exc`` means the database could not be reached at all."""
    if isinstance(exc, OSError | TimeoutError | sa_exc.InterfaceError | sa_exc.TimeoutError):
        return True
    orig = getattr(exc, "orig", None)
    return isinstance(orig, OSError) or isinstance(exc.__cause__, OSError)


def translated(
    action: str,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Decorate an async repository method so database failures surface as StoreError."""

    def decorate(
        method: Callable[P, Coroutine[Any, Any, R]],
    ) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(method)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await method(*args, **kwargs)
            except FolioError:
                raise
            except DATABASE_ERRORS as exc:
                raise store_error(exc, action) from exc

        return wrapper

    return decorate
