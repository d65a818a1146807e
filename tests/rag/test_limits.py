"""RateLimits: sliding one-minute windows per person and per channel, on a fake clock."""

from __future__ import annotations

from rag import RateLimits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_person_over_their_limit_is_told_when_the_oldest_question_leaves_the_window():
    clock = Clock()
    limits = RateLimits(per_user=2, per_channel=0, clock=clock)

    first = limits.admit("T1", "C1", "U1")
    clock.now += 10
    second = limits.admit("T1", "C2", "U1")
    clock.now += 5
    third = limits.admit("T1", "C3", "U1")
    other = limits.admit("T1", "C1", "U2")

    assert (first, second, other) == (None, None, None)
    assert third == 45
    clock.now += 45
    assert limits.admit("T1", "C1", "U1") is None


def test_a_refused_question_does_not_count_against_the_window():
    clock = Clock()
    limits = RateLimits(per_user=1, per_channel=0, clock=clock)

    assert limits.admit("T1", "C1", "U1") is None
    for _ in range(5):
        clock.now += 10
        assert limits.admit("T1", "C1", "U1") is not None
    clock.now += 10.5

    assert limits.admit("T1", "C1", "U1") is None


def test_a_channel_limit_counts_everyone_and_zero_means_no_limit():
    clock = Clock()
    limits = RateLimits(per_user=0, per_channel=2, clock=clock)

    answers = [limits.admit("T1", "C1", user) for user in ("U1", "U2", "U3")]

    assert answers[:2] == [None, None] and answers[2] == 60
    assert limits.admit("T1", "C2", "U3") is None
    assert limits.admit("T2", "C1", "U3") is None  # another workspace's channel
    unlimited = RateLimits(per_user=0, per_channel=0, clock=clock)
    assert all(unlimited.admit("T1", "C1", "U1") is None for _ in range(100))
