"""Fakes for the client tests: a clock that only moves when the code under test sleeps."""

from __future__ import annotations

import random

import pytest

from integrations.http import RetryPolicy

#: 2027-01-15 08:00:00 UTC, an arbitrary fixed "now".
START = 1_800_000_000.0


class FakeClock:
    """`clock()` for the code under test; `sleep()` records each wait and advances time."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rng() -> random.Random:
    return random.Random(1234)


@pytest.fixture
def policy() -> RetryPolicy:
    return RetryPolicy()
