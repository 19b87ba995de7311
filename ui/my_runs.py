"""The runs and uploads that are this browser's: started here under a fresh folder of the runs folder, and
remembered, so that a reload (a new session) lists them again, in class mode too, where nobody sees anyone else's.
A reload also finds the training run, sweep and comparison the browser last started (still training or not): its
page shows it again, with its live view and its Stop button, rather than a form that would start a second one.

The browser keeps a random token in a cookie (set by a tiny component, read back by the next session's first
request); runs/.owners/<a digest of the token> lists the checkpoint folders made with it, one per line. The digest,
not the token, names the file: someone who can read the runs folder learns nobody's token.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
from pathlib import Path

import streamlit as st

from vae_core import Dataset
from vae_core.checkpoint import new_run_dir
from vae_core.runs import RunGroup, RunState, start_runs

from . import resources, state

COOKIE = "vae_lab_owner"
TOKEN = re.compile(r"[0-9a-f]{32}")
OWNERS = ".owners"  # under the runs folder; hidden, so never taken for a run
MOST_REMEMBERED = 1000  # lines read back from one browser's list
MOST_LINE = 1024  # bytes a line of it takes at most (a checkpoint folder's path)
MOST_ENDED = 50  # browsers whose last jobs have all ended, kept for a reload (any with a job still active are kept)
_jobs: dict[str, dict[str, object]] = {}  # a browser's digest -> {state key: the job it last started under it}
_jobs_lock = threading.Lock()
_cookie = st.components.v2.component(
    "owner_cookie",
    js="""export default function ({ data }) {
  const cookie = `${data.name}=${data.value}`;
  if (!document.cookie.split("; ").includes(cookie)) {
    document.cookie = `${cookie}; path=/; max-age=${60 * 60 * 24 * 365}; SameSite=Strict`;
  }
}""")


def token() -> str:
    """This browser's token: the cookie its first request carried, or a new one (kept by keep_cookie())."""
    if state.OWNER not in st.session_state:
        sent = st.context.cookies.get(COOKIE)  # as the browser sent it: anything at all
        st.session_state[state.OWNER] = sent if isinstance(sent, str) and TOKEN.fullmatch(sent) else \
            secrets.token_hex(16)
    return st.session_state[state.OWNER]


def welcome() -> None:
    """On a session's first run, list this browser's runs and uploads from before (app.py calls it first)."""
    if state.MY_MODELS not in st.session_state:
        st.session_state[state.MY_MODELS] = remembered()
        with _jobs_lock:
            for key, job in _jobs.get(_digest(), {}).items():
                st.session_state.setdefault(key, job)


def keep_cookie() -> None:
    """Put the token in the browser's cookie (the sidebar calls this on every run; it draws nothing)."""
    _cookie(key="owner_cookie", data={"name": COOKIE, "value": token()})


def start(configs, data: Dataset, what, **options) -> RunGroup:
    """Start runs.start_runs(configs, data, ..., **options) in a new folder of the runs folder named after what (a
    Config, or a word such as "sweep-digits"), remembered as this browser's."""
    group = start_runs(configs, data, new_run_dir(resources.runs_dir(), what), **options)
    for run in group:
        remember(run.folder)
    return group


# What each of a session's jobs is, where (by its session-state key)
JOBS = {state.JOB: ("your run on the Train page", "trains", "waits in the queue"),
        state.SWEEP: ("your sweep on the Beta sweep page", "trains", "waits in the queue"),
        state.COMPARE: ("your three runs on the Warm-up page", "train", "wait in the queue")}


def busy_elsewhere(key: str) -> str | None:
    """In class mode, why a start under key waits, in a sentence: another job of this session still trains, or waits
    in the queue (JOBS's words). One job a session at a time, so that one student's run, sweep and warm-up together
    do not slow a class's two cores (a walk-through started all three). None where it may start."""
    if not resources.class_mode():
        return None
    for other, (what, trains, waits) in JOBS.items():
        job = st.session_state.get(other)
        if other != key and job is not None and job.active:
            # (a run still queued was said to train)
            running = any(run.state == RunState.RUNNING for run in (job if isinstance(job, RunGroup) else [job]))
            return f"One job at a time in class mode: {what} still {trains if running else waits}."
    return None


def keep(key: str, job) -> None:
    """Make job (a Run or a RunGroup) this session's under key (state.JOB, SWEEP or COMPARE), and this browser's: a
    reload, a new session, gets it back (welcome())."""
    st.session_state[key] = job
    with _jobs_lock:
        mine = _jobs.pop(_digest(), {})
        mine[key] = job
        _jobs[_digest()] = mine  # the most recent last
        ended = [d for d, jobs in _jobs.items() if not any(j.active for j in jobs.values())]
        for digest in ended[:max(0, len(ended) - MOST_ENDED)]:  # the oldest first; an active job's stay
            del _jobs[digest]


def adopt_ended(key: str) -> bool:
    """Make the checkpoint of this session's run under key (a Run), once it has ended with one, this session's choice
    (app.py does, before it draws the sidebar), once
    (not if its folder is listed already: a new session, a reload, lists this browser's checkpoints and keeps the
    model it was opened with): True if it did so now."""
    job = st.session_state.get(key)
    if job is None or job.active or job.checkpoint is None or state.listed(job.checkpoint):
        return False
    state.add_model(str(job.checkpoint))
    return True


def list_ended_groups() -> None:
    """List the saved runs of this session's groups that have ended (the Warm-up page's three, the Beta sweep's) in
    its picker, without choosing one: they were missing until a reload, and read as lost."""
    for key in (state.COMPARE, state.SWEEP):
        group = st.session_state.get(key)
        if group is not None and not group.active:
            for run in group:
                if run.checkpoint is not None and not state.listed(run.checkpoint):
                    state.list_model(str(run.checkpoint))


def remember(folder: str | Path) -> None:
    """List a checkpoint folder as this browser's (appended: one short line, whole, even with replicas writing), once
    (the same file uploaded again appended its line again, without end)."""
    index, line = _index(), str(Path(folder).resolve())
    if line in _lines():
        return
    index.parent.mkdir(parents=True, exist_ok=True)
    with open(index, "a") as f:
        f.write(line + "\n")


def remembered() -> list[str]:
    """This browser's checkpoints that still exist, oldest first (runs still training are not listed yet)."""
    root = resources.runs_dir().resolve()
    folders = dict.fromkeys(line for line in _lines() if line)
    return [f for f in folders if Path(f).is_relative_to(root) and resources.is_checkpoint(f)]


def _lines() -> list[str]:
    """The last MOST_REMEMBERED lines of this browser's list, read from its end (the whole file was read, however
    large), each decoded alone (one byte that was not UTF-8 lost the browser every run it had)."""
    try:
        with open(_index(), "rb") as f:
            start = max(0, f.seek(0, os.SEEK_END) - MOST_REMEMBERED * MOST_LINE)
            f.seek(start)
            lines = f.read().split(b"\n")
    except OSError:
        return []
    lines = lines[1:] if start else lines  # (the first may be the end of a line)
    return [line.decode(errors="replace") for line in lines[-MOST_REMEMBERED:]]


def _digest() -> str:
    """This browser's token as it is kept anywhere: a digest, so that neither the runs folder nor this process's
    memory hands anybody's token out."""
    return hashlib.sha256(token().encode()).hexdigest()[:32]


def _index() -> Path:
    return resources.runs_dir() / OWNERS / _digest()
