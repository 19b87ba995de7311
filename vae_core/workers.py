"""What runs on a Ray worker: the task that trains one run, the task that estimates a likelihood curve, and
RunControl, the small actor through which the process that started a task reaches it while it runs.

Every task takes (its own arguments..., the packed dataset, its CPU budget, its run id, the RunControl) and yields
the typed events of vae_core.events; vae_core.runs submits the tasks and follows those events. Nothing here is
called in the submitting process except pack_dataset.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import os
import queue
import threading
import time
import warnings
from collections.abc import Callable

from .config import Config
from .data import Dataset
from .errors import ConfigError, TrainingDiverged, VAEError
from .controls import Controls
from .events import (Change, EpochEvent, Estimated, Failed, Gathered, Held, Member, Pause, Resume, Started,
                     StepEvent, StepOnce, Steps, Speed, Stop, Trained)

PREVIEW_IMAGES = 8
STEP_POINTS = 20      # step losses kept per epoch, for the curves
FLUSH_SECONDS = 0.5   # step losses reach the submitter at least this often (each batch of them costs the
                      # submitter a Ray object to fetch: twenty live runs' events are most of a class's server load)
NAP_SECONDS = 0.5     # a paused task's longest nap (lending its CPUs); a command ends it at once
DATA_FIELDS = ("train_x", "train_y", "test_x", "test_y")


class RunControl:
    """A Ray actor, one per submitting process: its channel to each running task. A task holds one call to next()
    open, answered the moment a command is sent to it (so a stop reaches the training loop within one step) and
    with None once the task releases it at its end; a task nobody commands costs the actor nothing.

    Ray keeps no order between the calls of an async actor, even from one caller (a pause and the "rest of the
    epoch" sent after it came in the other order, and the run waited for ever): commands come numbered and are
    handed on in their numbers' order. A command sent after its task ended leaves a few bytes behind, for the
    actor's life."""

    def __init__(self):
        self._inboxes: dict = {}  # run id -> asyncio.Queue of commands; None ends it
        self._early: dict = {}    # run id -> {number: command} that came before an earlier-numbered one
        self._next: dict = {}     # run id -> the number of the command to hand on next
        self._naps: dict = {}     # run id -> the asyncio.Event its task's nap() waits on, set by a command

    def _inbox(self, run_id: str):
        import asyncio

        return self._inboxes.setdefault(run_id, asyncio.Queue())

    def send(self, run_id: str, command, number: int | None = None) -> None:
        """Hand command on to run_id's task once those numbered before it are (one without a number, a stop, at
        once)."""
        if run_id in self._naps:
            self._naps[run_id].set()
        if number is None:
            return self._inbox(run_id).put_nowait(command)
        early = self._early.setdefault(run_id, {})
        early[number] = command
        while (n := self._next.get(run_id, 0)) in early:
            self._inbox(run_id).put_nowait(early.pop(n))
            self._next[run_id] = n + 1

    def release(self, run_id: str) -> None:
        """The task of run_id is over: its open next() returns None."""
        self._inbox(run_id).put_nowait(None)

    def waiting(self, run_id: str) -> list:
        """The commands sent to run_id that wait now (those sent before its task began), taken from its inbox."""
        inbox, commands = self._inbox(run_id), []
        while not inbox.empty():
            command = inbox.get_nowait()
            if command is None:  # its end: left for next() to see (nothing after it matters)
                inbox.put_nowait(None)
                break
            commands.append(command)
        return commands

    async def nap(self, run_id: str) -> bool:
        """Answer after NAP_SECONDS, or True at once when a command is sent to run_id: what a paused task waits on
        in ray.get, which Ray takes as the task being blocked, lending its CPUs to the tasks that wait for them."""
        import asyncio

        woken = self._naps.setdefault(run_id, asyncio.Event())
        try:
            await asyncio.wait_for(woken.wait(), NAP_SECONDS)
            return True
        except asyncio.TimeoutError:
            return False
        finally:
            self._naps.pop(run_id, None)

    async def next(self, run_id: str):
        """The next command for run_id, once there is one; None once its task is over."""
        command = await self._inbox(run_id).get()
        if command is None:
            for kept in (self._inboxes, self._early, self._next, self._naps):
                kept.pop(run_id, None)
        return command


def pack_dataset(data: Dataset) -> dict:
    """The dataset as plain arrays, for Ray's object store (workers on this node map them without a copy)."""
    return {"name": data.name, "image_shape": data.image_shape, "classes": data.classes, "source": data.source,
            **{k: getattr(data, k).numpy() for k in DATA_FIELDS}}


def unpack_dataset(packed: dict) -> Dataset:
    import torch

    with warnings.catch_warnings():  # the object store's arrays are read-only; training never writes to them
        warnings.simplefilter("ignore", UserWarning)
        tensors = {k: torch.from_numpy(packed[k]) for k in DATA_FIELDS}
    return Dataset(packed["name"], image_shape=packed["image_shape"], classes=packed["classes"],
                   source=packed["source"], **tensors)


def train_task(config: Config, options: dict, packed: dict, cpus: int, run_id: str, control):
    """Train config's model with `cpus` threads (on the share of a GPU Ray gave it, if any), yielding Started, then
    Gathered events (Steps, Changed, EpochEvents with a preview, recording.Snapshots with options["live"]), then
    Trained (with a recording of options["record"] snapshots, if asked) or Failed. Obeys the commands sent through
    control."""
    import ray

    from .evaluation import reconstruction_rows
    from .model import VAE
    from .recording import LiveWatch, Recorder, Watches, subset_rows
    from .training import train

    data = unpack_dataset(packed)
    started = _started(cpus)
    yield started
    controls, events, outcome = Controls(pause_limit=options.get("pause_limit")), queue.Queue(), {}
    model = VAE(config)
    recorder = Recorder(data, config, options["record"]) if options.get("record") else None
    live = LiveWatch(data.test_x[subset_rows(len(data.test_x))], events.put) if options.get("live") else None
    watch = Watches([w for w in (recorder, live) if w is not None])

    def on_event(event):
        if isinstance(event, EpochEvent):  # the preview is made here, between steps, while the model is still
            preview = reconstruction_rows(model, data.test_x[:PREVIEW_IMAGES], PREVIEW_IMAGES).numpy()
            event = dataclasses.replace(event, preview=preview)
        events.put(event)

    def work():
        try:
            outcome["history"] = train(model, data, config, callback=on_event, stop=controls, device=started.device,
                                       watch=watch or None)
        except TrainingDiverged as e:  # the epochs before it are kept, as a stopped run's are
            if e.history is not None and e.history.epochs:
                outcome["history"], outcome["diverged"] = e.history, str(e)
            else:
                outcome["error"] = str(e)
        except VAEError as e:
            outcome["error"] = str(e)
        finally:
            events.put(_END)

    for command in _off_the_main_thread(ray.get, control.waiting.remote(run_id)):  # a speed or pause set as the run
        carry_out(command, controls)  # was started: before the first step, which may be over in milliseconds
    threading.Thread(target=_obey, args=(control, run_id, controls), daemon=True).start()
    threading.Thread(target=work, name="train", daemon=True).start()
    try:
        yield from _stream(events, lend=lambda: ray.get(control.nap.remote(run_id)), paced=lambda: controls.paced_at)
    finally:  # over, or the generator closed under it: the training thread stops, the watcher's wait ends
        controls.stop()
        control.release.remote(run_id)
    if "error" in outcome:
        yield Failed(outcome["error"].rstrip(".") + "; nothing saved")
        return
    history = outcome["history"]
    yield Trained(config=model.config, tensors={k: v.cpu().numpy() for k, v in model.state_dict().items()},
                  history=history.epochs, metrics=history.test, stopped=history.stopped,
                  recording=recorder.recording() if recorder is not None else None,  # ends with the weights kept
                  diverged=outcome.get("diverged", ""), left_paused=controls.left_paused)


def batched_task(configs: list, packed: dict, cpus: int, run_id: str, control):
    """Train configs as one program (batched.train_batched) with `cpus` threads, yielding Started, then Gathered
    events of its members (Member: Steps, EpochEvents), then a Member(k, Trained) for each, or Failed. A Stop stops
    every member before the next step, each keeping its finished epochs."""
    from .batched import train_batched

    data = unpack_dataset(packed)
    started = _started(cpus)
    yield started
    stop, events, outcome = threading.Event(), queue.Queue(), {}

    def work():
        try:
            outcome["results"] = train_batched(configs, data, callback=events.put, stop=stop, device=started.device)
        except VAEError as e:
            outcome["error"] = str(e)
        finally:
            events.put(_END)

    threading.Thread(target=_obey, args=(control, run_id, stop), daemon=True).start()
    threading.Thread(target=work, name="train", daemon=True).start()
    try:
        yield from _stream(events)
    finally:
        stop.set()
        control.release.remote(run_id)
    if "error" in outcome:
        yield Failed(outcome["error"] + "; nothing saved")
        return
    for k, (model, history) in enumerate(outcome["results"]):
        yield Member(k, Trained(config=model.config, tensors={n: v.cpu().numpy() for n, v in model.state_dict().items()},
                                history=history.epochs, metrics=history.test, stopped=history.stopped))


def curve_task(config: Config, tensors: dict, ks: list[int], packed: dict, cpus: int, run_id: str, control):
    """One IWAE estimate of the test set's -log p(x) per k, yielded (Estimated) as each is done; a Stop ends it
    between two batches of images."""
    import numpy as np
    import torch

    from .evaluation import iwae_estimate
    from .model import VAE

    model = VAE(config)
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()})
    test_x = unpack_dataset(packed).test_x
    yield _started(cpus)
    stop = threading.Event()
    threading.Thread(target=_obey, args=(control, run_id, stop), daemon=True).start()

    def check(_images: int) -> None:
        if stop.is_set():
            raise _Stopped

    try:
        for k in ks:
            yield Estimated(k, iwae_estimate(model, test_x, k, seed=config.seed, progress=check))
    except _Stopped:
        return
    finally:
        control.release.remote(run_id)


class _Stopped(Exception):
    """A Stop came while a curve was being estimated."""


def _started(cpus: int) -> Started:
    """On a worker, as a task begins: torch's threads set to the task's budget, the event that says where it runs.

    Ray starts its workers at nice 15 (its worker_niceness), so a training yields the CPU to the web server and
    any browser on the same machine without our asking."""
    import ray
    import torch

    torch.set_num_threads(cpus)  # the budget Ray reserved for this task
    device = "cuda" if ray.get_gpu_ids() and torch.cuda.is_available() else "cpu"
    return Started(pid=os.getpid(), node=ray.get_runtime_context().get_node_id(), threads=torch.get_num_threads(),
                   nice=os.nice(0), device=device)


_END = object()  # the training thread is over


def _stream(events: queue.Queue, lend: Callable[[], bool] | None = None, paced: Callable[[], float] = lambda: 0.0):
    """Yield the training thread's events gathered every FLUSH_SECONDS into one Gathered (each item a task yields
    costs the submitter a Ray object to fetch), step losses among them gathered into Steps (one per member of a
    batched run), all in their order; a Held at once (the page says "pausing" until it comes).

    While the training loop is held (from a Held until it steps again) and nothing is waiting, this thread calls
    lend() instead of waiting on the queue: a nap in ray.get, during which Ray counts the task as blocked and
    lends its CPUs to the tasks queued for them (only a task's main thread, this one, does that). A paused run
    then holds up nobody: a run queued behind it starts, and the two share the CPUs once it resumes. A nap that
    a command ended (True) is followed by a wait on the queue, so that the step a command lets the loop take
    comes through at once. paced(): when the controls last applied a pause, resume or speed (Steps.since)."""
    gathered, points, last, at, flushed = [], {}, {}, {}, time.monotonic()
    held = woken = False

    def steps_so_far(member=...):
        for k in ([member] if member is not ... else list(last)):
            if k in last:
                event = last.pop(k)
                steps = Steps(tuple(points.pop(k, ())), event.step, event.steps_per_epoch, event.epoch, at.pop(k),
                              paced())
                gathered.append(steps if k is None else Member(k, steps))

    while True:
        if held and not woken and lend is not None and events.empty():
            try:
                woken = lend()
            except Exception:  # (the actor gone with its submitter: the task is ending anyway) wait as before
                lend = None
            event = None
        else:
            timeout = FLUSH_SECONDS if woken else max(0.0, flushed + FLUSH_SECONDS - time.monotonic())
            woken = False
            try:
                event = events.get(timeout=timeout)
            except queue.Empty:
                event = None  # time to send what was gathered
        member, inner = (event.index, event.event) if isinstance(event, Member) else (None, event)
        if isinstance(inner, (Held, StepEvent, EpochEvent)) or event is _END:
            held = isinstance(inner, Held)
        if isinstance(inner, StepEvent):
            last[member], at[member] = inner, time.monotonic()  # (taken from the queue as the step ends)
            if point_kept(inner.step, inner.epoch, inner.steps_per_epoch):
                points.setdefault(member, []).append(((inner.epoch - 1) * inner.steps_per_epoch + inner.step,
                                                      inner.loss, inner.recon, inner.kl))
        elif event is not None:
            steps_so_far(member if event is not _END else ...)
            if event is not _END:
                gathered.append(event)
        if event is _END or isinstance(event, Held) or time.monotonic() - flushed >= FLUSH_SECONDS:
            steps_so_far()
            if gathered:
                yield Gathered(tuple(gathered))
            gathered, flushed = [], time.monotonic()
        if event is _END:
            return


def point_kept(step: int, epoch: int, steps_per_epoch: int) -> bool:
    """Whether a step's losses are kept for the curves: STEP_POINTS an epoch, and the first epoch's steps 1, 2, 4,
    8, ... besides, a few more at most (at batch 1 an MNIST epoch of 60,000 steps kept its first point at step
    3,000, and a run's curves stayed empty for minutes)."""
    return step % max(1, steps_per_epoch // STEP_POINTS) == 0 or (epoch == 1 and step & (step - 1) == 0)


def _off_the_main_thread(function, *args):
    """function(*args), called on another thread while this one waits: a task's main thread waiting in ray.get is
    taken by Ray as blocked, and its CPUs are lent to the tasks queued for them. On a cold cluster the control
    actor's first answer took seconds, and a third run started beside two training ones on two CPUs."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(function, *args).result()


def _obey(control, run_id: str, controls) -> None:
    """Carry out the commands sent to run_id on its controls (a controls.Controls, or an Event that can only stop)
    until its task releases it."""
    import ray

    while (command := ray.get(control.next.remote(run_id))) is not None:
        carry_out(command, controls)


def carry_out(command, controls) -> None:
    """One command on a task's controls (a controls.Controls, or an Event that can only stop)."""
    match command:
        case Stop():
            controls.stop() if hasattr(controls, "stop") else controls.set()
        case Pause():
            controls.pause()
        case Resume():
            controls.resume()
        case StepOnce(to_epoch_end=True):
            controls.finish_epoch()
        case StepOnce(steps=steps):
            controls.step(steps)
        case Speed(steps_per_second=rate):
            controls.speed(rate)
        case Change(beta=beta, lr=lr):
            with contextlib.suppress(ConfigError):  # checked where it was sent: a forged one changes nothing
                controls.change(beta=beta, lr=lr)
