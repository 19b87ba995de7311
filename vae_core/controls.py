"""What a person does to a run while it trains: stop it, pause and resume it, take one step or finish the epoch
while it is paused, limit its speed, change beta or the learning rate. Another thread (the watcher of a Ray task's
commands, a notebook's cell) calls the methods; the training loop asks wait_turn() before every step and
take_changes() for what to apply to it. A paused run waits on a condition, using no CPU (its Ray task lends its CPUs
to queued tasks meanwhile, workers._stream) but keeping its worker: left paused for pause_limit seconds with nobody
stepping it, it stops (keeping its finished epochs).
"""
from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from .config import Config

PAUSE_LIMIT = 600.0  # s: a run's task left paused this long, untouched, stops (a closed tab's kept a worker for good)


def duration_text(seconds: float) -> str:
    """A duration in words, in the unit a person reads it in: "30 s", "10 minutes", "2.4 hours", "2.4 days" (a run's
    time left read "about 207508 s")."""
    for unit, size, least in (("days", 86400, 2 * 86400), ("hours", 3600, 2 * 3600), ("minutes", 60, 120)):
        if seconds >= least:
            value = seconds / size
            return f"{value:.0f} {unit}" if unit == "minutes" or value >= 10 else f"{value:.1f} {unit}"
    return f"{seconds:.0f} s"


class Controls:
    """Thread-safe; anything with is_set() can stand for a stop flag, and so can this."""

    def __init__(self, pause_limit: float | None = None):
        self._condition = threading.Condition()
        self.pause_limit = pause_limit  # None: a pause lasts until a command ends it
        self.left_paused = False        # stopped by the pause limit
        self._touched = time.monotonic()  # the last command, which starts the pause limit again
        self.paced_at = 0.0  # when the last pause, resume or speed change was applied: the pace is read from after it
        self._stopped = False
        self._paused = False
        self._allowance = 0            # steps still allowed while paused
        self._to_epoch_end = False     # while paused: run on to the end of the current epoch
        self._interval = 0.0           # seconds between the starts of two steps at least (a speed limit)
        self._last_step = 0.0
        self._changes: dict = {}       # beta / lr to apply before the next step

    # ---- from another thread ----

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()

    def pause(self) -> None:
        with self._condition:
            self._touched = time.monotonic()
            self.paced_at = self._touched
            self._paused, self._allowance, self._to_epoch_end = True, 0, False

    def resume(self) -> None:
        with self._condition:
            self._touched = time.monotonic()
            self.paced_at = self._touched
            self._paused, self._allowance, self._to_epoch_end = False, 0, False
            self._condition.notify_all()

    def step(self, steps: int = 1) -> None:
        """While paused: take this many more steps (batches), then wait again."""
        with self._condition:
            self._touched = time.monotonic()
            self._allowance += max(0, int(steps))
            self._condition.notify_all()

    def finish_epoch(self) -> None:
        """While paused: run on to the end of the current epoch, then wait again."""
        with self._condition:
            self._touched = time.monotonic()
            self._to_epoch_end = True
            self._condition.notify_all()

    def speed(self, steps_per_second: float | None) -> None:
        """At most this many steps a second (None or 0: as fast as possible)."""
        with self._condition:
            self._touched = time.monotonic()
            self.paced_at = self._touched
            fast = not steps_per_second or not math.isfinite(steps_per_second)
            self._interval = 0.0 if fast else 1.0 / steps_per_second
            self._condition.notify_all()

    def change(self, *, beta: float | None = None, lr: float | None = None) -> None:
        """Train with this beta (the KL weight, before any warm-up's scaling) and learning rate (before any landing's
        scaling) from the next step on. A value Config would refuse is a ConfigError here, in the caller's thread."""
        Config().replace(**{k: v for k, v in (("beta", beta), ("lr", lr)) if v is not None})
        with self._condition:
            self._touched = time.monotonic()
            self._changes.update({k: float(v) for k, v in (("beta", beta), ("lr", lr)) if v is not None})

    def is_set(self) -> bool:
        return self._stopped

    @property
    def paused(self) -> bool:
        return self._paused

    # ---- from the training loop ----

    def wait_turn(self, step: int, steps: int, on_hold: Callable[[], None] | None = None) -> bool:
        """Before step (1-based) of an epoch of steps: wait while paused (or for the speed limit), then True; False
        once stopped, or once left paused for pause_limit seconds since the last command (left_paused). on_hold() is
        called, without the lock, as it is about to wait paused (once per call): a live view's snapshot of the step
        it waits after (a check after each step missed a pause that came during the speed limit's wait, and the
        view stayed steps behind the run)."""
        held = False
        with self._condition:
            while True:
                if self._stopped:
                    return False
                if self._paused and self._to_epoch_end:
                    self._allowance, self._to_epoch_end = steps - step + 1, False
                if self._paused and self._allowance == 0:
                    if on_hold is not None and not held:
                        held = True
                        self._condition.release()
                        try:
                            on_hold()
                        finally:
                            self._condition.acquire()
                        continue  # look again: a resume may have come meanwhile
                    if self.pause_limit is None:
                        self._condition.wait()
                        continue
                    left = self._touched + self.pause_limit - time.monotonic()
                    if left <= 0:
                        self._stopped = self.left_paused = True
                        return False
                    self._condition.wait(left)
                    continue
                wait = self._last_step + self._interval - time.monotonic()
                if wait > 0:  # woken early by a stop, a pause, a new speed: look again
                    self._condition.wait(wait)
                    continue
                if self._paused:
                    self._allowance -= 1
                self._last_step = time.monotonic()
                return True

    def take_changes(self) -> dict:
        """The changes asked for since the last call ({"beta": ..., "lr": ...}, either or none)."""
        with self._condition:
            changes, self._changes = self._changes, {}
            return changes
