"""What training reports while it runs, and what a running task is told: the typed events `training.train` sends
to its callback and a Ray task streams back to the process that started it (vae_core.runs), and the commands
that process sends to the task (through workers.RunControl)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import Config


# ---- from the training loop (training.train's callback) ----

@dataclass(frozen=True)
class StepEvent:
    """After every optimiser step."""
    epoch: int          # 1-based
    step: int           # 1-based within the epoch
    steps_per_epoch: int
    loss: float         # the optimised (beta-weighted) loss, nats per image
    recon: float
    kl: float
    beta: float         # the KL weight in force (after warm-up)


@dataclass(frozen=True)
class EpochEvent:
    """After every epoch, with the test evaluation; a task adds a preview of the test set's reconstructions."""
    epoch: int
    epochs: int
    record: dict                      # one row of the history: see training.epoch_record
    preview: np.ndarray | None = None  # [H, W]: test originals over their reconstructions


@dataclass(frozen=True)
class Changed:
    """Controls changed beta or the learning rate: in force from this step on."""
    step: int                  # counted from the start of the run, 1-based
    epoch: int
    beta: float | None = None
    lr: float | None = None


@dataclass(frozen=True)
class Held:
    """Paused by controls: the run waits before its next step, the steps taken so far reported before this."""
    steps_done: int            # counted from the start of the run


# ---- from a task on a worker, besides the loop's EpochEvents ----

@dataclass(frozen=True)
class Started:
    """The task began on a worker: where it runs, with how many threads, at what niceness, on which device."""
    pid: int
    node: str
    threads: int
    nice: int
    device: str = "cpu"  # "cuda" where Ray gave the task a share of a GPU that torch sees


@dataclass(frozen=True)
class Steps:
    """Step losses gathered over a short while (StepEvents are too many to send one by one)."""
    points: tuple[tuple[int, float, float, float], ...]  # (step counted from the start, loss, recon, KL)
    step: int                                             # the last step taken, within its epoch
    steps_per_epoch: int
    epoch: int                                            # the epoch that step belongs to (1-based)
    # the worker's time.monotonic() at that step: a run's pace is read from these (the times its reports arrived
    # move with the flushes: at 3 steps a second, 2 or 4 steps a flush, and a resumed run told 14 s for 9)
    at: float
    # the worker's time its last pause, resume or speed change was applied (0: none): the steps before it, still in
    # the reports that follow the command, went at the old pace (a speed of 3 a second set while running at 10 was
    # read as 5 a second: "6 s left" for 13)
    since: float = 0.0


@dataclass(frozen=True)
class Member:
    """An event of one of the runs trained as one program (batched.train_batched): its index among them, and the
    event (StepEvent, EpochEvent, Steps, Trained)."""
    index: int
    event: object


@dataclass(frozen=True)
class Gathered:
    """A task's events of the last half second or so, in their order, sent as one (each item a task yields costs
    its submitter a Ray object to fetch: twenty live runs' events were most of a class server's load)."""
    events: tuple


@dataclass(frozen=True)
class Trained:
    """A training task's end: the weights and records of its finished epochs (none if stopped before the first)."""
    config: Config                    # as trained: precision "auto" resolved
    tensors: dict[str, np.ndarray]    # the state dict
    history: list[dict]
    metrics: dict                     # the test metrics of the weights returned
    stopped: bool
    recording: object = None          # a recording.Recording, when the run was asked to record
    diverged: str = ""                # why it ended early, where the loss became non-finite (its good epochs kept)
    left_paused: bool = False         # stopped by its pause limit: paused that long with no command (stopped too)


@dataclass(frozen=True)
class Estimated:
    """One importance-weighted estimate of the test set's -log p(x) (evaluation.iwae_estimate's result)."""
    k: int
    estimate: dict


@dataclass(frozen=True)
class Failed:
    """The task ended with an error a user can act on (a diverged run, say); nothing was saved."""
    message: str


# ---- to a running task (carried out on its controls.Controls) ----

@dataclass(frozen=True)
class Stop:
    """Stop before the next step, keeping the finished epochs."""


@dataclass(frozen=True)
class Pause:
    """Hold before the next step (the worker waits, using no CPU)."""


@dataclass(frozen=True)
class Resume:
    """Go on from where it was paused."""


@dataclass(frozen=True)
class StepOnce:
    """While paused: take this many steps (batches), or run to the end of the epoch, then wait again."""
    steps: int = 1
    to_epoch_end: bool = False


@dataclass(frozen=True)
class Speed:
    """At most this many steps a second (None: as fast as possible)."""
    steps_per_second: float | None


@dataclass(frozen=True)
class Change:
    """Train with this beta and / or learning rate from the next step on."""
    beta: float | None = None
    lr: float | None = None
