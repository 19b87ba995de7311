"""Training runs on Ray, from the side that starts them: start_runs(configs, data, folder) submits each run as a
Ray task (or runs that can train as one program as one task, a Batch) and returns a RunGroup at once; each Run
fills in its progress from the task's typed events (vae_core.events) for a page, the CLI or a notebook to poll,
and writes its checkpoint here, into its folder, so a cluster needs no shared file system. What runs on the
workers is in vae_core.workers.

How a run goes: start_runs -> Job.start (a thread of this process) -> cluster.connect -> the task is given to Ray
(state QUEUED) -> the task's events arrive in that thread, gathered each half second, in Job._apply: Started
(RUNNING), Steps, EpochEvent, Snapshot and Changed for a live run, then Trained (the checkpoint is written: DONE or
STOPPED) or Failed (FAILED); listeners (a live view's feed) hear after each. Stop() cancels a queued task or sends
Stop to a running one through the RunControl actor, as pause, one step, speed and changes go. Ray queues what the cluster cannot run yet:
this module keeps no queue of its own, only the order of this process's submissions, to say how many are ahead.
A job's fields are replaced, never mutated in place, so a reader in another thread always sees a consistent value.
"""
from __future__ import annotations

import enum
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from . import cluster
from .batched import batchable
from .checkpoint import Checkpoint, record_iwae, run_tag, shown_name, write_checkpoint
from .config import Config
from .controls import PAUSE_LIMIT, duration_text
from .data import Dataset
from .errors import ConfigError, VAEError
from .evaluation import shown_total
from .events import (Change, Changed, EpochEvent, Estimated, Failed, Gathered, Held, Member, Pause, Resume,
                     Started, StepOnce, Steps, Speed, Stop, Trained)
from .recording import Snapshot, save_recording
from . import workers

CURVE_KS = (1, 10, 100, 1000)  # the importance samples of the ELBO-to-likelihood lesson
PACE_EVENTS = 20                # a run's time left is read from its last this many step reports (10 s of them, or
                                # of a fast run's epochs, which come a report each)


class RunState(enum.StrEnum):
    PENDING = "pending"    # made, not started
    STARTING = "starting"  # connecting to Ray (the first job of a process starts a local instance)
    QUEUED = "queued"      # given to Ray, waiting for a worker with its CPUs
    RUNNING = "running"
    DONE = "done"
    STOPPED = "stopped"
    FAILED = "failed"

    @property
    def active(self) -> bool:
        return self in (RunState.PENDING, RunState.STARTING, RunState.QUEUED, RunState.RUNNING)


@dataclass(kw_only=True)
class Job:
    """What every job shares: its submission from a thread of its own, which then follows the task's events, its
    place in Ray's queue, stopping, and how a failure is told. Subclasses say which task runs (_task) and what its
    own events mean (_apply)."""
    cpus: int | None = None             # CPU budget (torch threads); None: cluster.job_cpus(dataset), once submitted
    state: RunState = RunState.PENDING
    message: str = ""                   # what went wrong, or what the job left behind
    submitted: float = 0.0              # time.time() of start()
    started: float = 0.0                # time.time() the task began on a worker
    worker: Started | None = None       # where the task runs
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    _stop_requested: bool = field(default=False, repr=False)
    _generator: object = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _unsent: list | None = field(default_factory=list, repr=False)  # commands given before it was submitted
    _unsent_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _numbered: int = field(default=0, repr=False)  # commands sent to the task so far (workers.RunControl)
    listeners: list = field(default_factory=list, repr=False)  # called with the job after each event it takes
    doing: ClassVar[str] = "running this job"  # what its worker does, for the message if the worker dies
    trains: ClassVar[bool] = False              # a training asks for a share of a GPU where the cluster has them

    def start(self) -> Job:
        """Submit the job (connecting to Ray first if need be) from a thread of its own, which follows it."""
        self.state, self.submitted = RunState.STARTING, time.time()
        self._thread = threading.Thread(target=self._follow, name=f"job-{self.id[:8]}", daemon=True)
        self._thread.start()
        return self

    @property
    def active(self) -> bool:
        return self.state.active

    @property
    def ahead(self) -> int:
        """Jobs this process gave Ray earlier that still wait for the cluster. Ray starts tasks in the order they
        came, whatever their CPU budgets: a 1-CPU run waits behind a queued 2-CPU run even while a CPU is free
        (measured on ray 2.60, one node)."""
        earlier = list(_submitted)  # a snapshot: other threads add and remove jobs
        earlier = earlier[:earlier.index(self)] if self in earlier else []
        return sum(job.state == RunState.QUEUED for job in earlier)

    @property
    def stopping(self) -> bool:
        """Told to stop, and not ended yet (a command's trip and the end of a step away)."""
        return self._stop_requested and self.active

    def stop(self) -> None:
        """Stop the job: a queued one never runs; a running one stops before its next step."""
        self._stop_requested = True
        if self.state == RunState.QUEUED and self._generator is not None:
            import ray

            ray.cancel(self._generator)
        elif self.state == RunState.RUNNING:
            _control().send.remote(self.id, Stop())

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _send(self, command):
        """(With _unsent_lock held.) Send command to the task, numbered: its actor hands commands on in this order.
        Returns the call's reference (ray.get on it returns once the actor has it)."""
        sent = _control().send.remote(self.id, command, self._numbered)
        self._numbered += 1
        return sent

    def _task(self) -> tuple:
        """(the task function of vae_core.workers, its arguments before the common ones, the dataset it needs)."""
        raise NotImplementedError

    def _cpus(self, data: Dataset) -> int:
        """Its CPU budget, unless given one (asked once connected to Ray)."""
        return cluster.job_cpus(data.name)

    def _apply(self, event) -> None:
        """Take one of the task's own events (not Started or Failed)."""
        raise NotImplementedError

    def _over(self) -> None:
        """The task's events ended without a failure: say how the job ended."""
        raise NotImplementedError

    def _end(self, state: RunState, message: str) -> None:
        self.message, self.state = message, state
        self._tell()

    def _tell(self) -> None:
        """Call the listeners (in this job's thread): one that fails is dropped, never the job."""
        for listener in list(self.listeners):
            try:
                listener(self)
            except Exception as e:  # a listener's own failure: not the job's
                self.listeners.remove(listener)
                logging.getLogger(__name__).warning("a listener of job %s failed and was dropped: %s", self.id, e)

    def _unfinished(self) -> tuple[RunState, str]:
        """How a job whose task ended without its result ended: stopped, if it was told to (a cancelled task's
        events may just end), else failed."""
        if self._stop_requested:
            return RunState.STOPPED, ("stopped before it started: nothing saved" if self.worker is None
                                      else "stopped: nothing saved")
        return RunState.FAILED, "the task ended without a result"

    # ---- following the task (in this job's thread) ----

    def _follow(self) -> None:
        try:
            self.message = "starting workers"
            cluster.connect()  # before anything imports ray: connecting sets how Ray starts
            self._run()
        except VAEError as e:
            self._end(RunState.FAILED, str(e))
        except Exception as e:  # the thread's boundary: a poller must never wait on a dead job
            self._end(RunState.FAILED, f"unexpected error: {type(e).__name__}: {e}")
            raise
        finally:
            if self.active:  # the task's events ended without saying how it ended
                self._end(*self._unfinished())
            if self in _submitted:
                _submitted.remove(self)

    def _run(self) -> None:
        import ray
        from ray.exceptions import OutOfMemoryError, RayError, TaskCancelledError, WorkerCrashedError

        if self._stop_requested:
            return self._end(RunState.STOPPED, "stopped before it started: nothing saved")
        function, args, data = self._task()
        cpus = self.cpus = self.cpus or self._cpus(data)
        task = _remote(function).options(num_cpus=cpus, num_gpus=cluster.job_gpus() if self.trains else 0)
        # Commands given while Ray was still connecting (a page's speed and pause, set as it starts the run) are in
        # the actor before the task is submitted, so the task takes them all before its first step. (Sent after,
        # a warm worker began first: it took the speed, and a step before the pause.)
        with self._unsent_lock:
            early, self._unsent = [self._send(command) for command in self._unsent], None
        ray.get(early)
        with _submit_lock:  # the order of _submitted is the order Ray was given the tasks in
            self._generator = task.remote(*args, _data_ref(data), cpus, self.id, _control())
            _submitted.append(self)
            self.state, self.message = RunState.QUEUED, ""
        self._tell()
        try:
            for ref in self._generator:
                event = ray.get(ref)
                if isinstance(event, Started):
                    self.worker, self.started, self.state = event, time.time(), RunState.RUNNING
                    if self._stop_requested:  # stopped while the task was starting
                        _control().send.remote(self.id, Stop())
                elif isinstance(event, Failed):
                    return self._end(RunState.FAILED, event.message)
                elif isinstance(event, Gathered):
                    for each in event.events:
                        self._apply(each)
                else:
                    self._apply(event)
                self._tell()
            self._over()
        except TaskCancelledError:
            self._end(RunState.STOPPED, "stopped before it started: nothing saved")
        except (WorkerCrashedError, OutOfMemoryError) as e:
            self._end(RunState.FAILED, f"the worker {self.doing} died ({type(e).__name__}: killed, or out of "
                                       f"memory); nothing saved. {_first_line(e)}")
        except RayError as e:
            self._end(RunState.FAILED, f"the task failed: {_first_line(e)}")


@dataclass
class Run(Job):
    """One training run: its progress while it trains, then its checkpoint in folder."""
    config: Config
    data: Dataset
    folder: Path                      # the checkpoint folder; removed again if the run saves nothing
    name: str = ""                    # how its group calls it (beta-0.1, plain, ...); the folder's name by default
    epoch: int = 0                    # epochs finished
    step: int = 0                     # steps finished in the current epoch
    steps_per_epoch: int = 0
    history: list = field(default_factory=list)  # epoch records, as in the checkpoint's metrics.json
    steps: list = field(default_factory=list)    # (step from the start, loss, recon, kl), a few per epoch
    preview: object = None                       # [H, W] array: test originals over their reconstructions
    checkpoint: Path | None = None
    record: int = 0                   # snapshots its checkpoint keeps (recording.safetensors); 0: none
    live: bool = False                # stream snapshots while it trains (a live view)
    pause_limit: float | None = PAUSE_LIMIT  # s paused with no command before it stops (None: no limit)
    snapshot: Snapshot | None = None  # the latest one streamed, with its pictures
    changes: list = field(default_factory=list)  # beta / lr changed while it trained: {"step", "epoch", ...}
    asked: dict = field(default_factory=dict)    # beta / lr last asked for by change(), applied yet or not
    paused: bool = False              # told to pause (and not to resume since)
    held: bool = False                # paused, and its worker said it waits (a pause lands a command's trip later)
    advancing: str = ""               # what a paused run was told to take before it waits again: "1 step", "the
                                      # rest of the epoch" ("" once it waits)
    speed_limit: float | None = None  # the most steps a second it was last told to take (None: as fast as possible)
    start_speed: float | None = None  # the one it was first told (what a form that started it asked for)
    given: Config = field(init=False, repr=False)  # the config it was started with (config ends as trained: beta
                                                   # and lr as last changed, precision resolved)
    batch: Batch | None = field(default=None, repr=False)  # the one program it trains in with others, if any
    _pace: tuple = field(default=(), repr=False)  # ((the worker's time, steps done, arrived), ...) of its last
                                                  # step reports
    _paced_since: float = field(default=0.0, repr=False)  # Steps.since of the newest report
    _pace_wait: bool = field(default=False, repr=False)   # a pause, resume or speed sent that no report shows yet
    _speed_told: bool = field(default=False, repr=False)
    _released_at: int = field(default=-1, repr=False)  # steps done when it was last told to step: a Held from
                                                       # then on is the wait before that command, already over
    doing: ClassVar[str] = "training this run"
    trains: ClassVar[bool] = True

    def __post_init__(self):
        self.folder = Path(self.folder)
        self.name = self.name or self.folder.name
        self.given = self.config

    @property
    def steps_done(self) -> int:
        """Optimiser steps taken since the run began. (step alone restarts at 0 with each epoch: a run whose epochs
        are shorter than a flush of step losses, or evaluated for longer than trained, shows 0 there nearly always.)"""
        return self.epoch * self.steps_per_epoch + self.step

    @property
    def fraction(self) -> float:
        if not self.steps_per_epoch:
            return 1.0 if self.state == RunState.DONE else 0.0
        return min(1.0, self.steps_done / (self.config.epochs * self.steps_per_epoch))

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the pace of its last step reports (PACE_EVENTS of them, since its last pause, resume or
        speed change: from its start, a pause's minutes counted as training and a resumed run told 18 s for 5);
        None until two have come."""
        pace = self._pace  # (replaced, never mutated: read in the page's thread)
        if len(pace) < 2 or pace[-1][1] <= pace[0][1] or not self.steps_per_epoch:
            return None
        (w0, s0, _), (w1, s1, arrived) = pace[0], pace[-1]
        left = self.config.epochs * self.steps_per_epoch - s1
        # a second at least while steps are left: reports late for the pace (a batched group's, between epochs)
        # took the estimate to "about 0 s left" with 251 of 960 steps to go
        return max(1.0 if left > 0 else 0.0, left * (w1 - w0) / (s1 - s0) - (time.monotonic() - arrived))

    def _task(self) -> tuple:
        options = {"record": self.record, "live": self.live, "pause_limit": self.pause_limit}
        return workers.train_task, (self.config, options), self.data

    @property
    def ahead(self) -> int:
        return self.batch.ahead if self.batch is not None else super().ahead

    def stop(self) -> None:
        """Stop it (a run trained with others as one program stops them all: they share each step)."""
        if self.batch is not None:
            return self.batch.stop()
        super().stop()

    def join(self, timeout: float | None = None) -> None:
        if self.batch is not None:
            return self.batch.join(timeout)
        super().join(timeout)

    # ---- what a person does to it while it trains (carried out by the task's controls.Controls) ----

    def pause(self) -> None:
        self.paused = True
        self._paced(Pause())

    def resume(self) -> None:
        self.paused = self.held = False
        self.advancing = ""
        self._paced(Resume())

    def step_once(self, steps: int = 1) -> None:
        """While paused: take this many steps (batches), then wait again."""
        steps = max(1, int(steps))
        self._release(f"{steps} step{'s' if steps > 1 else ''}")
        self._command(StepOnce(steps=steps))

    def finish_epoch(self) -> None:
        """While paused: run to the end of the current epoch, then wait again."""
        self._release("the rest of the epoch")
        self._command(StepOnce(to_epoch_end=True))

    def _release(self, what: str) -> None:
        if self.held:  # (one sent while pausing adds to where the pause will land)
            self._released_at = self.steps_done
        self.held, self.advancing = False, what

    def speed(self, steps_per_second: float | None) -> None:
        """At most this many steps a second; None: as fast as possible."""
        self.speed_limit = None if not steps_per_second else float(steps_per_second)
        if not self._speed_told:
            self.start_speed, self._speed_told = self.speed_limit, True
        self._paced(Speed(self.speed_limit))

    def _paced(self, command) -> None:
        """Send a command that changes the run's pace: its time left waits for the steps taken after it (the report
        whose Steps.since is newer than the last one seen)."""
        self._pace = ()
        self._pace_wait = self._command(command)

    def change(self, *, beta: float | None = None, lr: float | None = None) -> None:
        """Train with this beta / learning rate from the next step on; a value Config refuses is a ConfigError here."""
        wanted = {k: v for k, v in (("beta", beta), ("lr", lr)) if v is not None}
        self.config.replace(**wanted)
        if self._command(Change(beta=beta, lr=lr)):
            self.asked = {**self.asked, **wanted}  # (replaced, never mutated: read in the page's thread)

    def _command(self, command) -> bool:
        """Send a command to the task (received when it starts, if it is still queued, and sent once it is
        submitted, if Ray is still connecting); nothing once it ended, nor to a run trained with others. True if
        it was sent or is to be."""
        if not self.active or self._stop_requested or self.batch is not None:
            return False
        with self._unsent_lock:
            if self._unsent is not None:
                self._unsent.append(command)
            else:
                self._send(command)
        return True

    def _apply(self, event) -> None:
        if isinstance(event, Steps):
            self.steps = self.steps + list(event.points)
            self.steps_per_epoch, self.step = event.steps_per_epoch, event.step
            # (at the worker's times: one Gathered brings a Steps per epoch in it, all at once, which at the times
            # they came read as no time, and "0 s left")
            if event.since > self._paced_since:  # the worker applied a pause, resume or speed: read from after it,
                self._paced_since, self._pace_wait = event.since, False  # from the first step taken after it (not
                # from the command: at 1 a second the next step comes 1 s after the last one at the old speed, under
                # a second after the command, and "68 s left" was told for 89 steps)
                self._pace = ((event.at, self.steps_done, time.monotonic()),) if event.at >= event.since else ()
            elif not self._pace_wait:
                self._pace = (*self._pace[1 - PACE_EVENTS:], (event.at, self.steps_done, time.monotonic()))
        elif isinstance(event, EpochEvent):
            self.preview, self.history = event.preview, self.history + [event.record]
            self.epoch, self.step = event.record["epoch"], 0
        elif isinstance(event, Snapshot):
            self.snapshot = event
        elif isinstance(event, Held):
            if self.paused and event.steps_done > self._released_at:  # (a resume sent meanwhile has its way)
                self.held, self.advancing = True, ""
        elif isinstance(event, Changed):
            self.changes = self.changes + [{"step": event.step, "epoch": event.epoch,
                                            **{k: v for k, v in (("beta", event.beta), ("lr", event.lr)) if v is not None}}]
        elif isinstance(event, Trained):
            self._save(event)

    def _over(self) -> None:
        if self.active:  # no Trained came
            self._end(*self._unfinished())

    def _save(self, result: Trained) -> None:
        self.epoch, self.step = len(result.history), 0  # a stopped run keeps its finished epochs only
        idle = f" (left paused for {duration_text(self.pause_limit)} with no command)" if result.left_paused else ""
        if not result.history:
            return self._end(RunState.STOPPED, f"stopped before the first epoch ended{idle}: nothing saved")
        self.config = result.config  # as trained: precision "auto" resolved
        tensors = {k: np.array(v) for k, v in result.tensors.items()}  # writable copies of Ray's read-only arrays
        write_checkpoint(self.folder, self.config, tensors, result.history, result.metrics)
        if result.recording is not None:
            save_recording(self.folder, result.recording)
        self.checkpoint = self.folder
        score = f"test negative ELBO {shown_total(result.metrics['recon'], result.metrics['kl']):.2f} nats"
        name = shown_name(self.folder.name, self.config.beta)  # as lists of models show it (a β changed: ...-beta1→5)
        if tag := run_tag(self.folder):  # and its tag: a class that pressed Start at once read one name for all
            name += f" #{tag}"
        if result.diverged:
            n = len(result.history)
            return self._end(RunState.FAILED, f"{result.diverged} The {n} epoch{'s' if n > 1 else ''} before it "
                                              f"{'are' if n > 1 else 'is'} saved as {name} ({score}).")
        done = "stopped after" if result.stopped else "finished"
        self._end(RunState.STOPPED if result.stopped else RunState.DONE,
                  f"{done} {len(result.history)} epoch{'s' if len(result.history) != 1 else ''}{idle}; saved as {name} "
                  f"({score})")

    def _end(self, state: RunState, message: str) -> None:
        if self.checkpoint is None:
            try:
                self.folder.rmdir()  # made for this run, which saved nothing
            except OSError:
                pass  # not there, or not empty
        super()._end(state, message)


@dataclass
class Batch(Job):
    """Runs that differ only in beta, warm-up, free bits, learning rate or seed (batched.batchable), trained as one
    program in one task (batched.train_batched): its events fill in each member Run, which saves its own
    checkpoint; the members share the task's state and worker, and stop together."""
    runs: list = field(default_factory=list)
    doing: ClassVar[str] = "training these runs as one program"
    trains: ClassVar[bool] = True

    def _task(self) -> tuple:
        return workers.batched_task, ([run.config for run in self.runs],), self.runs[0].data

    def _cpus(self, data: Dataset) -> int:
        """The budget of its runs together (they share every step), as far as the CPUs free now go, and half the
        largest node where fewer are free: a batch that wanted a whole node waited until nothing else ran there (a
        likelihood curve, another run), and one held to half an idle node left a core unused (the MNIST sweep's
        five members train an epoch in half the time on two threads as on one, BENCHMARKS.md). Free: what Ray says,
        less what this process's own jobs hold or wait for, which Ray's count can miss for a moment (a sweep started
        just after a run asked for the whole node, and waited for the run to end)."""
        budget, node = len(self.runs) * cluster.job_cpus(data.name), cluster.node_cpus()
        free = min(cluster.free_cpus(), node - sum(job.cpus or 0 for job in submitted()))
        return max(1, min(budget, max(node // 2, free)))

    def start(self) -> Batch:
        for run in self.runs:
            run.state, run.submitted = RunState.STARTING, time.time()
        return super().start()

    def stop(self) -> None:
        for run in self.runs:
            run._stop_requested = True
        super().stop()

    def _apply(self, event) -> None:
        if isinstance(event, Member):
            self.runs[event.index]._apply(event.event)

    def _over(self) -> None:
        for run in self.runs:
            if run.active:  # no Trained came for it
                run._end(*run._unfinished())
        if self.active:
            super()._end(RunState.DONE if all(r.state == RunState.DONE for r in self.runs) else RunState.STOPPED, "")

    def _end(self, state: RunState, message: str) -> None:
        for run in self.runs:
            if run.active:
                run._end(state, message)
        super()._end(state, message)

    def _tell(self) -> None:
        """The members share the task's state and worker until each ends; then their listeners hear."""
        for run in self.runs:
            if run.active:
                run.state, run.worker, run.cpus = self.state, self.worker, self.cpus
                run.submitted, run.started, run.message = self.submitted, self.started, self.message
            run._tell()
        super()._tell()


@dataclass
class RunGroup:
    """Runs started together (one run, a beta sweep, the warm-up comparison): as one program in one task where they
    can (a Batch), else a task each, which Ray runs as many at once as the cluster's CPUs allow, queueing the rest."""
    runs: list[Run]

    def __iter__(self):
        return iter(self.runs)

    def __len__(self) -> int:
        return len(self.runs)

    def stop(self) -> None:
        for run in self.runs:
            run.stop()

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.time() + timeout
        for run in self.runs:
            run.join(None if deadline is None else max(0.0, deadline - time.time()))

    @property
    def active(self) -> bool:
        return any(run.active for run in self.runs)

    @property
    def fraction(self) -> float:
        return sum(run.fraction if run.active else 1.0 for run in self.runs) / len(self.runs)

    @property
    def checkpoints(self) -> list[Path]:
        return [run.checkpoint for run in self.runs if run.checkpoint is not None]


def start_runs(configs: Config | Mapping[str, Config], data: Dataset, folder: str | Path, *,
               cpus: int | None = None, record: int = 0, live: bool = False,
               batched: bool | None = None, pause_limit: float | None = PAUSE_LIMIT) -> RunGroup:
    """Train each config on Ray and return the group at once (connecting to Ray happens in the runs' threads).

    One Config is saved into folder itself; a mapping of names to configs (sweep_configs, remedy_configs) into
    folder/name each. cpus overrides the CPU budget of every run (else cluster.job_cpus of the dataset); record keeps
    that many snapshots in each checkpoint; live streams snapshots while they train (Run.snapshot); a run left paused
    for pause_limit seconds with no command stops, keeping its finished epochs (while paused, it lends its CPUs to
    queued runs but keeps its worker).
    batched trains them as one program in one task (batched.train_batched; by default where they can, neither live
    nor recorded), with the CPUs of its runs together, at most half the largest node's.
    """
    folder = Path(folder)
    if isinstance(configs, Config):
        named = {folder.name: (configs, folder)}
    else:
        named = {name: (config, folder / name) for name, config in configs.items()}
    group = RunGroup([Run(config=config, data=data, folder=where, name=name, cpus=cpus, record=record, live=live,
                          pause_limit=pause_limit) for name, (config, where) in named.items()])
    if batched is None:
        batched = batchable([run.config for run in group]) and not live and not record
    elif batched and not batchable([run.config for run in group]):
        raise ConfigError("these runs cannot train as one program: they must be two or more MLPs that agree in "
                          "all but beta, warm-up, free bits, learning rate and seed")
    if batched:
        batch = Batch(cpus=cpus, runs=group.runs)
        for run in group.runs:
            run.batch = batch
        batch.start()
        return group
    for run in group.runs:
        run.start()
    return group


@dataclass
class LikelihoodCurve(Job):
    """The test set's -log p(x) estimated with k importance samples for each k in ks (evaluation.iwae_estimate) as
    a Ray task; with keep, the estimates go into the checkpoint's metrics.json under "iwae", so each model's are
    computed once."""
    checkpoint: Checkpoint
    data: Dataset
    ks: tuple = CURVE_KS
    keep: bool = True
    points: dict = field(default_factory=dict)  # k -> iwae_estimate's result, as they arrive
    doing: ClassVar[str] = "estimating the likelihood"

    @property
    def fraction(self) -> float:
        return sum(self.points) / sum(self.ks)  # the samples drawn: k = 1000 is most of the work

    def _task(self) -> tuple:
        tensors = {k: v.detach().cpu().numpy() for k, v in self.checkpoint.model.state_dict().items()}
        return workers.curve_task, (self.checkpoint.config, tensors, list(self.ks)), self.data

    def _apply(self, event) -> None:
        if isinstance(event, Estimated):
            self.points = {**self.points, event.k: event.estimate}

    def _over(self) -> None:
        if len(self.points) < len(self.ks):  # stopped between two estimates
            return self._end(*self._unfinished())
        if self.keep:
            record_iwae(self.checkpoint, self.points)
        self._end(RunState.DONE, f"-log p(x) estimated with k = {', '.join(map(str, self.ks))} importance samples")


def start_likelihood_curve(checkpoint: Checkpoint, data: Dataset, ks: tuple = CURVE_KS,
                           keep: bool = True) -> LikelihoodCurve:
    """Estimate checkpoint's -log p(x) on data's test set for each k, on Ray (see LikelihoodCurve)."""
    return LikelihoodCurve(checkpoint=checkpoint, data=data, ks=ks, keep=keep).start()


def submitted() -> list[Job]:
    """This process's jobs that Ray has and that have not ended, in the order Ray was given them."""
    return list(_submitted)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# ---- this process's Ray handles: made once, on first use ----

_submitted: list[Job] = []  # this process's jobs given to Ray and not yet ended, in the order Ray got them
_submit_lock = threading.Lock()
_remotes: dict = {}
_handles: dict = {}
_setup_lock = threading.Lock()


def _remote(function):
    """function as a Ray task that is never retried (a retry would start again from scratch, unseen)."""
    import ray

    with _setup_lock:
        if function not in _remotes:
            _remotes[function] = ray.remote(max_retries=0)(function)
        return _remotes[function]


def _control():
    """This process's RunControl actor, through which it reaches its running tasks."""
    import ray

    with _setup_lock:
        if "control" not in _handles:
            _handles["control"] = ray.remote(num_cpus=0)(workers.RunControl).remote()
        return _handles["control"]


def _data_ref(data: Dataset):
    """The dataset in Ray's object store, put there once per process: workers on this node map it without a copy,
    and workers elsewhere fetch it, so they need no data files of their own."""
    import ray

    key = ("data", data.name, id(data.train_x))
    with _setup_lock:
        if key not in _handles:
            _handles[key] = ray.put(workers.pack_dataset(data))
        return _handles[key]
