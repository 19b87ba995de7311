"""Training jobs on Ray: a TrainingJob runs one training as a Ray task with its own CPU budget and publishes
its progress in plain fields for a UI (the app's pages, the CLI's sweep, a notebook) to poll.

The task streams events back (started, step losses, epoch records with a preview, the weights); a thread
of the submitting process follows them and writes the checkpoint into the job's folder on this machine,
so a cluster needs no shared file system. Ray queues what the cluster cannot run yet: this module keeps
no queue or pool of its own, only the order of this process's submissions, to say how many are ahead.
Fields are replaced, never mutated in place, so a reader always sees a consistent value.
"""
from __future__ import annotations

import json
import os
import queue
import threading
import time
import uuid
import warnings
from dataclasses import dataclass, field
from typing import ClassVar
from pathlib import Path

import numpy as np

from . import cluster
from .checkpoint import Checkpoint, record_iwae, write_checkpoint
from .config import Config
from .data import Dataset
from .errors import VAEError

PREVIEW_IMAGES = 8
STEP_POINTS = 20      # step losses kept per epoch, for the curves
FLUSH_SECONDS = 0.25  # step losses reach the submitter at least this often
ACTIVE = ("pending", "starting", "queued", "running")


@dataclass(kw_only=True)
class RayJob:
    """What every job shares: its submission from a thread of its own, which then follows the task's events,
    its place in Ray's queue, stopping, and how a failure is told. Subclasses say which task runs (_task) and
    what its events mean (_apply)."""
    cpus: int | None = None           # CPU budget (torch threads); None: cluster.job_cpus(dataset), once submitted
    state: str = "pending"            # pending, starting, queued, running, then done, stopped or failed
    message: str = ""                 # what went wrong, or what the job left behind
    submitted: float = 0.0            # time.time() of start()
    started: float = 0.0              # time.time() the task began on a worker
    worker: dict = field(default_factory=dict)   # {"pid", "node", "threads", "nice"} of the Ray worker running it
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    _stop_requested: bool = field(default=False, repr=False)
    _generator: object = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    doing: ClassVar[str] = "running this job"  # what its worker does, for the message if the worker dies

    def start(self):
        """Submit the job (connecting to Ray first if need be) from a thread of its own, which follows it."""
        self.state, self.submitted = "starting", time.time()
        self._thread = threading.Thread(target=self._follow, name=f"job-{self.id[:8]}", daemon=True)
        self._thread.start()
        return self

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def ahead(self) -> int:
        """Jobs this process gave Ray earlier that still wait for the cluster (Ray starts tasks of the same
        CPU budget in the order they came)."""
        submitted = list(_submitted)  # a snapshot: other threads add and remove jobs
        earlier = submitted[:submitted.index(self)] if self in submitted else []
        return sum(job.state == "queued" and job.cpus == self.cpus for job in earlier)

    def stop(self) -> None:
        """Stop the job: a queued one never runs; a running one stops before its next step."""
        self._stop_requested = True
        if self.state == "queued" and self._generator is not None:
            import ray
            ray.cancel(self._generator)
        elif self.state == "running":
            _stop_board().stop.remote(self.id)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _task(self) -> tuple:
        """(the remote function, its arguments after the CPU budget, the dataset it needs)."""
        raise NotImplementedError

    def _apply(self, event: dict) -> None:
        raise NotImplementedError

    def _end(self, state: str, message: str) -> None:
        self.message, self.state = message, state

    # ---- following the task (in this job's thread) ----

    def _follow(self) -> None:
        try:
            self.message = "starting workers"
            cluster.connect()  # before anything imports ray: connecting sets how Ray starts
            self._run()
        except VAEError as e:
            self._end("failed", str(e))
        except Exception as e:  # the thread's boundary: a poller must never wait on a dead job
            self._end("failed", f"unexpected error: {type(e).__name__}: {e}")
            raise
        finally:
            if self.active:
                self._end("failed", "the task ended without a result")
            if self in _submitted:
                _submitted.remove(self)

    def _run(self) -> None:
        import ray
        from ray.exceptions import OutOfMemoryError, RayError, TaskCancelledError, WorkerCrashedError

        if self._stop_requested:
            return self._end("stopped", "stopped before it started: nothing saved")
        function, args, data = self._task()
        cpus = self.cpus = self.cpus or cluster.job_cpus(data.name)
        task, data_ref, board = _remote(function).options(num_cpus=cpus), _data_ref(data), _stop_board()
        with _submit_lock:  # the order of _submitted is the order Ray was given the tasks in
            self._generator = task.remote(*args, data_ref, cpus, self.id, board)
            _submitted.append(self)
            self.state, self.message = "queued", ""
        try:
            for ref in self._generator:
                event = ray.get(ref)
                if event["kind"] == "started":
                    self.worker = {key: event[key] for key in ("pid", "node", "threads", "nice")}
                    self.started, self.state = time.time(), "running"
                    if self._stop_requested:
                        board.stop.remote(self.id)
                elif event["kind"] == "failed":
                    self._end("failed", event["message"])
                else:
                    self._apply(event)
        except TaskCancelledError:
            self._end("stopped", "stopped before it started: nothing saved")
        except (WorkerCrashedError, OutOfMemoryError) as e:
            self._end("failed", f"the worker {self.doing} died ({type(e).__name__}: killed, or out of "
                                f"memory); nothing saved. {_first_line(e)}")
        except RayError as e:
            self._end("failed", f"the task failed: {_first_line(e)}")


@dataclass
class TrainingJob(RayJob):
    """One training run as a Ray task; the checkpoint comes back into out_dir."""
    config: Config
    data: Dataset
    out_dir: Path                     # the checkpoint folder; removed again if the job saves nothing
    epoch: int = 0                    # epochs finished
    step: int = 0                     # steps finished in the current epoch
    steps_per_epoch: int = 0
    history: list = field(default_factory=list)  # epoch records, as in the checkpoint's metrics.json
    steps: list = field(default_factory=list)    # (global step, loss, recon, kl), STEP_POINTS per epoch
    preview: np.ndarray | None = None            # [H, W]: test originals over their reconstructions
    checkpoint: Path | None = None
    doing: ClassVar[str] = "training this run"

    @property
    def fraction(self) -> float:
        if not self.steps_per_epoch:
            return 1.0 if self.state == "done" else 0.0
        return min(1.0, (self.epoch * self.steps_per_epoch + self.step) / (self.config.epochs * self.steps_per_epoch))

    @property
    def eta_seconds(self) -> float | None:
        done = self.fraction
        return (time.time() - self.started) * (1 - done) / done if done > 0 and self.started else None

    def _task(self) -> tuple:
        return run_task, (self.config.to_json(),), self.data

    def _apply(self, event: dict) -> None:
        kind = event["kind"]
        if kind == "steps":
            self.steps = self.steps + event["points"]
            self.steps_per_epoch, self.step = event["steps_per_epoch"], event["step"]
        elif kind == "epoch":
            self.preview, self.history = event["preview"], self.history + [event["record"]]
            self.epoch, self.step = event["record"]["epoch"], 0
        elif kind == "result":
            self._save(event)

    def _save(self, result: dict) -> None:
        history, metrics, stopped = result["history"], result["metrics"], result["stopped"]
        self.epoch, self.step = len(history), 0  # a stopped run keeps its finished epochs only
        if not history:
            return self._end("stopped", "stopped before the first epoch ended: nothing saved")
        tensors = {k: np.array(v) for k, v in result["tensors"].items()}  # writable copies of Ray's read-only arrays
        self.config = Config.from_dict(json.loads(result["config"]))  # as trained: precision "auto" resolved
        write_checkpoint(self.out_dir, self.config, tensors, history, metrics)
        self.checkpoint = self.out_dir
        self._end("stopped" if stopped else "done",
                  f"{'stopped after' if stopped else 'finished'} {len(history)} epochs; saved {self.out_dir} "
                  f"(test negative ELBO {metrics['nelbo']:.2f} nats)")

    def _end(self, state: str, message: str) -> None:
        if self.checkpoint is None:
            try:
                self.out_dir.rmdir()  # made for this run, which saved nothing
            except OSError:
                pass  # not there, or not empty
        super()._end(state, message)


CURVE_KS = (1, 10, 100, 1000)  # the importance samples of the ELBO-to-likelihood lesson


@dataclass
class CurveJob(RayJob):
    """The test set's -log p(x) estimated with k importance samples for each k in ks (vae_core.evaluation.
    iwae_estimate) as a Ray task; with keep, the estimates go into the checkpoint's metrics.json under "iwae",
    so each model's are computed once."""
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
        return curve_task, (self.checkpoint.config.to_json(), tensors, list(self.ks)), self.data

    def _apply(self, event: dict) -> None:
        if event["kind"] == "point":
            self.points = {**self.points, event["k"]: event["estimate"]}
        elif event["kind"] == "result":
            if self.keep:
                record_iwae(self.checkpoint, self.points)
            self._end("done", f"-log p(x) estimated with k = {', '.join(map(str, self.ks))} importance samples")


def submitted() -> list[RayJob]:
    """This process's jobs that Ray has and that have not ended, in the order Ray was given them."""
    return list(_submitted)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@dataclass
class SweepJob:
    """Several training jobs submitted together (a beta sweep, runs to compare): Ray runs as many at once as
    the cluster's CPUs allow and queues the rest."""
    jobs: list[TrainingJob]

    def start(self) -> SweepJob:
        for job in self.jobs:
            job.start()
        return self

    def stop(self) -> None:
        for job in self.jobs:
            job.stop()

    def join(self, timeout: float | None = None) -> None:
        deadline = None if timeout is None else time.time() + timeout
        for job in self.jobs:
            job.join(None if deadline is None else max(0.0, deadline - time.time()))

    @property
    def active(self) -> bool:
        return any(job.active for job in self.jobs)

    @property
    def fraction(self) -> float:
        return sum(job.fraction if job.active else 1.0 for job in self.jobs) / len(self.jobs)


_submitted: list[RayJob] = []  # this process's jobs given to Ray and not yet ended, in the order Ray got them
_submit_lock = threading.Lock()


# ---- on the Ray side ----

_remotes: dict = {}
_board = None
_data_refs: dict = {}
_setup_lock = threading.Lock()


def _remote(function):
    """function as a Ray task that is never retried (a retry would start again from scratch, unseen)."""
    import ray

    with _setup_lock:
        if function not in _remotes:
            _remotes[function] = ray.remote(max_retries=0)(function)
        return _remotes[function]


def _stop_board():
    """One small actor per submitting process that running jobs ask whether they were told to stop."""
    global _board
    import ray

    with _setup_lock:
        if _board is None:
            _board = ray.remote(num_cpus=0)(cluster.StopBoard).remote()
        return _board


def _data_ref(data: Dataset):
    """The dataset in Ray's object store, put there once per process: workers on this node map it without a
    copy, and workers elsewhere fetch it, so they need no data files of their own."""
    import ray

    key = (data.name, id(data.train_x))
    with _setup_lock:
        if key not in _data_refs:
            _data_refs[key] = ray.put({"name": data.name, "image_shape": data.image_shape, "classes": data.classes,
                                       "source": data.source, **{k: getattr(data, k).numpy() for k in
                                                                 ("train_x", "train_y", "test_x", "test_y")}})
        return _data_refs[key]


def _started(cpus: int) -> dict:
    """On a worker, as a task begins: torch's threads set to the task's budget, the event that says where it runs.

    Ray starts its workers at nice 15 (its worker_niceness), so a training yields the CPU to the web server and
    any browser on the same machine without our asking."""
    import ray
    import torch

    torch.set_num_threads(cpus)  # the budget Ray reserved for this task
    return {"kind": "started", "pid": os.getpid(), "node": ray.get_runtime_context().get_node_id(),
            "threads": torch.get_num_threads(), "nice": os.nice(0)}


def run_task(config_json: str, packed: dict, cpus: int, job_id: str, board):
    """The Ray task behind a TrainingJob, on a worker: trains with `cpus` threads and yields its events."""
    from .evaluation import reconstruction_rows
    from .model import VAE
    from .training import EpochEvent, train

    config = Config.from_dict(json.loads(config_json))
    data = _unpack(packed)
    yield _started(cpus)
    stop, events, outcome = threading.Event(), queue.Queue(), {}
    model = VAE(config)

    def on_event(event):
        if isinstance(event, EpochEvent):  # the preview is made here, between steps, while the model is still
            preview = reconstruction_rows(model, data.test_x[:PREVIEW_IMAGES], PREVIEW_IMAGES).numpy()
            events.put({"kind": "epoch", "record": event.record, "preview": preview})
        else:
            events.put(event)

    def work():
        try:
            outcome["history"] = train(model, data, config, callback=on_event, stop=stop)
        except VAEError as e:
            outcome["error"] = str(e)
        finally:
            events.put(None)

    threading.Thread(target=_watch_stop, args=(board, job_id, stop), daemon=True).start()
    threading.Thread(target=work, name="train", daemon=True).start()
    try:
        yield from _stream(events)
    finally:  # over, or the generator closed under it: the training thread stops, the watcher's wait ends
        stop.set()
        board.release.remote(job_id)
    if "error" in outcome:
        yield {"kind": "failed", "message": outcome["error"] + "; nothing saved"}
        return
    history = outcome["history"]
    yield {"kind": "result", "tensors": {k: v.cpu().numpy() for k, v in model.state_dict().items()},
           "config": model.config.to_json(), "history": history.epochs, "metrics": history.test,
           "stopped": history.stopped}


def curve_task(config_json: str, tensors: dict, ks: list[int], packed: dict, cpus: int, job_id: str, board):
    """The Ray task behind a CurveJob: one IWAE estimate over the test set per k, yielded as each is done."""
    import torch

    from .evaluation import iwae_estimate
    from .model import VAE

    config = Config.from_dict(json.loads(config_json))
    model = VAE(config)
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()})
    test_x = _unpack(packed).test_x
    yield _started(cpus)
    for k in ks:
        yield {"kind": "point", "k": k, "estimate": iwae_estimate(model, test_x, k, seed=config.seed)}
    yield {"kind": "result"}


def _unpack(packed: dict) -> Dataset:
    import torch

    with warnings.catch_warnings():  # the object store's arrays are read-only; training never writes to them
        warnings.simplefilter("ignore", UserWarning)
        tensors = {k: torch.from_numpy(packed[k]) for k in ("train_x", "train_y", "test_x", "test_y")}
    return Dataset(packed["name"], image_shape=packed["image_shape"], classes=packed["classes"],
                   source=packed["source"], **tensors)


def _stream(events: queue.Queue):
    """Yield the training thread's events: epochs at once, step losses gathered every FLUSH_SECONDS."""
    from .training import StepEvent

    points, last, flushed = [], None, time.time()
    while True:
        try:
            event = events.get(timeout=FLUSH_SECONDS)
        except queue.Empty:
            event = "tick"
        if isinstance(event, StepEvent):
            last = event
            if event.step % max(1, event.steps_per_epoch // STEP_POINTS) == 0:
                points.append(((event.epoch - 1) * event.steps_per_epoch + event.step, event.loss, event.recon,
                               event.kl))
        if last is not None and (event is None or isinstance(event, dict) or time.time() - flushed >= FLUSH_SECONDS):
            yield {"kind": "steps", "points": points, "step": last.step, "steps_per_epoch": last.steps_per_epoch}
            points, last, flushed = [], None, time.time()
        if isinstance(event, dict):
            yield event
        if event is None:
            return


def _watch_stop(board, job_id: str, stop: threading.Event) -> None:
    """Set stop as soon as the board says so; return when the task releases its wait."""
    import ray

    if ray.get(board.wait.remote(job_id)):
        stop.set()
