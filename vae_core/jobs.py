"""Background training: a thread that trains one model and publishes its progress in a plain object to poll.

A UI (the Streamlit train page, a notebook) starts a TrainingJob, reads its fields at leisure, and calls
stop(); the thread never touches the UI. Fields are replaced, not mutated in place, so a reader always
sees a consistent value.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .checkpoint import save_checkpoint
from .config import Config
from .data import Dataset
from .errors import VAEError
from .evaluation import reconstruction_rows
from .model import VAE
from .training import EpochEvent, StepEvent, train

PREVIEW_IMAGES = 8


class _Background:
    """What both jobs share: a thread, and a stop flag it checks between steps."""

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


@dataclass
class TrainingJob(_Background):
    config: Config
    data: Dataset
    out_dir: Path
    state: str = "pending"            # pending, running, done, stopped, failed
    message: str = ""                 # what went wrong, or where the checkpoint went
    epoch: int = 0                    # epochs finished
    step: int = 0                     # steps finished in the current epoch
    steps_per_epoch: int = 0
    started: float = 0.0
    history: list = field(default_factory=list)  # epoch records, as in the checkpoint's metrics.json
    steps: list = field(default_factory=list)    # (global step, loss, recon, kl) every few steps
    preview: torch.Tensor | None = None          # [H, W]: test originals over their reconstructions
    checkpoint: Path | None = None
    model: VAE | None = field(default=None, repr=False)  # the model being trained; read-only to others
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> TrainingJob:
        self.state, self.started = "running", time.time()
        self._thread = threading.Thread(target=self.run, name=f"train-{self.out_dir.name}", daemon=True)
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def fraction(self) -> float:
        total = self.config.epochs * max(self.steps_per_epoch, 1)
        return min(1.0, (self.epoch * self.steps_per_epoch + self.step) / total) if self.steps_per_epoch else 0.0

    @property
    def eta_seconds(self) -> float | None:
        done = self.fraction
        return (time.time() - self.started) * (1 - done) / done if done > 0 else None

    def _on_event(self, event) -> None:
        if isinstance(event, StepEvent):
            self.steps_per_epoch, self.step = event.steps_per_epoch, event.step
            global_step = (event.epoch - 1) * event.steps_per_epoch + event.step
            if event.step % max(1, event.steps_per_epoch // 20) == 0:
                self.steps = self.steps + [(global_step, event.loss, event.recon, event.kl)]
        elif isinstance(event, EpochEvent):
            self.preview = self._reconstructions()
            self.history = self.history + [event.record]
            self.epoch, self.step = event.epoch, 0

    def _reconstructions(self) -> torch.Tensor:
        return reconstruction_rows(self.model, self.data.test_x[:PREVIEW_IMAGES], PREVIEW_IMAGES)

    def run(self) -> None:
        """Train, evaluate and save, here and now (start() runs this in a thread)."""
        self.state, self.started = "running", self.started or time.time()
        self.model = VAE(self.config)
        try:
            history = train(self.model, self.data, self.config, callback=self._on_event, stop=self._stop)
            self.step = 0  # a stopped run keeps its finished epochs only
            if history.stopped and not history.epochs:
                self.state, self.message = "stopped", "stopped before the first epoch ended: nothing saved"
                _discard_if_empty(self.out_dir)
                return
            metrics = history.test
            self.checkpoint = save_checkpoint(self.model, self.out_dir, history.epochs, metrics)
            self.state = "stopped" if history.stopped else "done"
            self.message = (f"{'stopped after' if history.stopped else 'finished'} {len(history.epochs)} epochs; "
                            f"saved {self.checkpoint} (test negative ELBO {metrics['nelbo']:.2f} nats)")
        except VAEError as e:  # a diverged run keeps its last good weights in self.model, unsaved
            self.state, self.message = "failed", str(e)
            _discard_if_empty(self.out_dir)
        except Exception as e:  # the thread's boundary: a poller must never wait on a dead thread
            self.state, self.message = "failed", f"unexpected error: {type(e).__name__}: {e}"
            _discard_if_empty(self.out_dir)
            raise


def _discard_if_empty(folder: Path) -> None:
    """Remove a run's folder that holds nothing (it was made for the run, which saved nothing)."""
    try:
        folder.rmdir()
    except OSError:
        pass  # not there, or not empty


@dataclass
class SweepJob(_Background):
    """Several training jobs run one after another in one thread: a beta sweep, or runs to compare."""
    jobs: list[TrainingJob]
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> SweepJob:
        for job in self.jobs:
            job._stop = self._stop  # one stop flag for the whole sweep
        self._thread = threading.Thread(target=self._run, name="sweep", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        for job in self.jobs:
            if self._stop.is_set():
                job.state, job.message = "stopped", "not started: the sweep was stopped"
                continue
            job.run()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def fraction(self) -> float:
        done = [job.fraction if job.state == "running" else float(job.state != "pending") for job in self.jobs]
        return sum(done) / len(done)
