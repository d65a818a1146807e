"""RateLimits: how many questions one person, and one channel, may ask a minute.

Each limit is a sliding window of the last minute's admitted questions, held in this
process (several web processes each allow the limit; a limit is a guard against floods,
not an exact quota). A question over either limit is not counted, and ``admit`` says how
many seconds until one more would be admitted.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0


class RateLimits:
    """Per-person and per-channel questions per minute; 0 turns a limit off."""

    def __init__(
        self,
        *,
        per_user: int,
        per_channel: int,
        clock: Callable[[], float] = time.monotonic,
        window_s: float = WINDOW_S,
    ) -> None:
        self._limits = {"user": per_user, "channel": per_channel}
        self._clock = clock
        self._window_s = window_s
        self._seen: dict[tuple[str, str, str], deque[float]] = {}

    def admit(self, team_id: str, channel_id: str, user_id: str) -> int | None:
        """Count one question; None when admitted, else whole seconds until it would be."""
        now = self._clock()
        keys = [("user", team_id, user_id), ("channel", team_id, channel_id)]
        wait = 0.0
        for key in keys:
            limit = self._limits[key[0]]
            times = self._window(key, now)
            if limit and len(times) >= limit:
                wait = max(wait, times[-limit] + self._window_s - now)
        if wait > 0:
            return max(1, math.ceil(wait))
        for key in keys:
            self._seen.setdefault(key, deque()).append(now)
        return None

    def _window(self, key: tuple[str, str, str], now: float) -> deque[float]:
        times = self._seen.get(key, deque())
        while times and times[0] <= now - self._window_s:
            times.popleft()
        if not times:
            self._seen.pop(key, None)
        return times
