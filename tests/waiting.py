"""Waiting for a condition: the one polling loop of the tests (and of the benchmarks that borrow their helpers)."""
from __future__ import annotations

import time
from typing import Callable


def holds_within(condition: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    """Poll condition until it holds (True) or timeout seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def wait_until(condition: Callable[[], object], timeout: float = 120.0,
               what: str | Callable[[], object] = "the condition", interval: float = 0.05) -> None:
    """Poll condition until it holds; fail naming what after timeout seconds. what may be a function, called at
    that moment, so that the failure shows the state that was waited on."""
    if not holds_within(condition, timeout, interval):
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what() if callable(what) else what}")
