"""Following work that runs elsewhere (training runs, a likelihood curve on Ray): redrawing while it runs, and
its progress line, stop button and how it ended."""
from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from vae_core.controls import duration_text
from vae_core.runs import RunState, submitted


def follow(job, render: Callable[[], None], every: float = 1.0,
           rerun_on: Callable[[object], object] = lambda job: job.active) -> None:
    """Draw render() now, and again every `every` seconds while job runs (only this block reruns); when
    rerun_on(job) changes (by default: when the job ends), rerun the whole page once, so what changed shows
    everywhere (the sidebar, a chart, a slower polling once a live view draws the progress) and the polling stops
    with the job.

    The job runs elsewhere and never touches Streamlit; render only reads it (and may send it commands).
    """
    polling = job is not None and job.active
    seen = rerun_on(job) if polling else None

    @st.fragment(run_every=every if polling else None)
    def poll():
        if polling and rerun_on(job) != seen:
            st.rerun()
        render()

    poll()


def status(run) -> str:
    """A run's state in a few words: waiting, its epoch, or how it ended."""
    if run.state == RunState.RUNNING and run.paused:
        return f"{paused(run)} · epoch {min(run.epoch + 1, run.config.epochs)} of {run.config.epochs}"
    if run.state == RunState.RUNNING:
        return f"epoch {min(run.epoch + 1, run.config.epochs)} of {run.config.epochs}"
    return waiting(run) or f"{run.state} after {run.epoch} epochs"


def waiting(job) -> str | None:
    """What a job that has not started yet waits for, in a few words (None once it runs)."""
    if job.state == RunState.STARTING:
        return "starting workers…"
    if job.state == RunState.QUEUED:
        if job.ahead:
            # (in the order they came: one behind a 2-CPU job waits with a CPU free, and read as a fault)
            return f"queued: {job.ahead} job{'s' if job.ahead != 1 else ''} ahead (jobs start in the order they came)"
        others = [other for other in submitted() if other is not job and other.state == RunState.RUNNING]
        held = sum(bool(getattr(other, "held", False)) for other in others)  # paused, lending their CPUs: not
        busy = len(others) - held                                            # training ("3 training" on 2 CPUs)
        if not others:  # ("queued: next to start" read as someone ahead while Ray readied the first worker: 7 s)
            return "starting: Ray is readying a worker process for it (seconds; longer for a server's first run)"
        cpus = f"{job.cpus} CPU{'s' if job.cpus != 1 else ''}"
        return (f"queued: next to start, when a Ray worker with {cpus} is free ({busy} training here now"
                + (f", {held} paused" if held else "") + ")")
    return None


def running(run) -> str:
    """Where a running run is: its epoch, and its step counted from the start of the run (or that it is evaluating
    the epoch it just trained)."""
    config, epoch = run.config, min(run.epoch + 1, run.config.epochs)
    if not run.steps_per_epoch:
        return f"epoch {epoch} of {config.epochs}"
    where = (f"evaluating epoch {epoch}" if run.step == run.steps_per_epoch
             # between epochs (held there by "Rest of the epoch"): "epoch 4 · step 36" read against "3.00 epochs done"
             else f"epoch {run.epoch} of {config.epochs} done" if run.epoch and not run.step
             else f"epoch {epoch} of {config.epochs}")
    return f"{where} · step {run.steps_done:,} of {config.epochs * run.steps_per_epoch:,}"


def paused(run) -> str:
    """A paused run's state: "paused" once its worker waits; "pausing" until then (the steps still count up), or
    what it was told to take meanwhile ("paused, taking the rest of the epoch": a walk-through read "pausing" while
    it trained on to the epoch's end)."""
    return "paused" if run.held else f"paused, taking {run.advancing}" if run.advancing else "pausing"


def line(run) -> str:
    """A running run's progress line: stopping, paused (see paused()) or neither, its epoch and step, the time left,
    on what it runs."""
    eta, worker = run.eta_seconds, run.worker
    limit = f" (stops if left {duration_text(run.pause_limit)} with no command)" if run.held and run.pause_limit else ""
    state = "stopping · " if run.stopping else f"{paused(run)} · " if run.paused else ""
    return (state + running(run) + limit
            + (f" · about {duration_text(eta)} left" if eta is not None and not run.paused else "")
            # (its process id and node were noise to a class: run.worker keeps them)
            + (f" · on a Ray worker with {worker.threads} thread{'s' if worker.threads > 1 else ''}"
               + (" and a share of a GPU" if worker.device == "cuda" else "") if worker is not None else ""))


def run_progress(run, show_line: bool = True) -> None:
    """One training run's progress line (waiting, epoch, step and ETA, or how it ended; a running one's only with
    show_line: its live view draws it) and its stop button."""
    config = run.config
    if run.state == RunState.RUNNING:
        if show_line:
            st.progress(run.fraction, text=line(run))
    elif run.active:
        st.progress(0.0, text=waiting(run))
    else:
        st.progress(run.fraction, text=f"{run.state}: {run.epoch} of {config.epochs} epochs")
        (st.error if run.state == RunState.FAILED else st.warning if run.checkpoint is None else st.success)(run.message)
    if run.active and not run.live:  # (a live run's Stop is among its controls, live.controls)
        st.button("Stop", key=f"stop_{run.id}", on_click=run.stop)


def group_progress(group, what: str, label: Callable = lambda run: run.name) -> None:
    """Progress, stop button and failures of a RunGroup: one line, naming each run by label(run) (its name by
    default), or saying how many train as one program; call it from the render of follow()."""
    if group.active:
        active = [r for r in group if r.active]
        eta = max((r.eta_seconds for r in active if r.eta_seconds is not None), default=None)
        left = f" · about {duration_text(eta)} left" if eta is not None else ""
        if len(active) > 1 and active[0].batch is not None and all(r.batch is active[0].batch for r in active):
            # one program: one line for all, where the last of them is (five runs at one epoch and step, each
            # named, filled two lines; their reports come one by one, a step apart)
            last = min(active, key=lambda r: r.steps_done)
            text = f"{what}: {len(active)} runs trained as one program · {waiting(last) or running(last)}{left}"
        else:
            done = sum(not r.active for r in group)
            text = (f"{what}: {done} of {len(group)} runs finished · "
                    + " · ".join(f"{label(r)}: " + (waiting(r) or running(r)) for r in active) + left)
        st.progress(group.fraction, text=text)
        st.button("Stop", key=f"stop_{what}", on_click=group.stop)
    for r in group:
        if r.state == RunState.FAILED:
            st.error(f"{label(r)}: {r.message}")
    if not group.active:  # how it ended, in a line: a sweep that finished while nobody looked says so
        saved = sum(r.checkpoint is not None for r in group)
        ended = f"{what}: {saved} of {len(group)} runs saved"
        if all(r.state == RunState.DONE for r in group):
            st.success(f"{what}: all {len(group)} runs finished and saved")
        elif any(r.state == RunState.STOPPED for r in group):
            st.warning(f"{ended} (stopped: a run keeps the epochs it finished)")
        else:
            st.warning(ended)
