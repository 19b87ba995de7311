"""Watching a model learn: the live view of a run while it trains (the snapshots its worker streams, Run.snapshot,
each with its pictures), its controls (pause, one step, speed, beta and the learning rate), and the replay of a
checkpoint's recording with its GIF. The browser draws everything (ui/decoder's live.js and replay.js); the server
sends a snapshot's numbers and its pictures' bytes, or a recording by URL, never a frame.
"""
from __future__ import annotations

import base64
import functools
import json
import secrets
import threading
import time
from pathlib import Path

import numpy as np
import streamlit as st

from vae_core import DATASETS, ConfigError
from vae_core.evaluation import ACTIVE_THRESHOLD
from vae_core.recording import (RECORDING, Recording, load_recording, picture_latents, pictures_per_row,
                                plane_extent, recording_gif, snapshot_extent, subset_rows)
from vae_core.controls import duration_text
from vae_core.runs import Run, RunState

from . import progress, served
from .charts import PALETTE, change_label
from .decoder import component
from .fields import Field, refused

_live = component("live_view", "live.js")
_replay = component("training_replay", "replay.js")

SPEEDS = {"1 step/s": 1.0, "3 steps/s": 3.0, "10 steps/s": 10.0, "30 steps/s": 30.0, "100 steps/s": 100.0,
          "as fast as possible": None}  # slow to fast, left to right
FASTEST = "as fast as possible"
WATCHABLE = "watchable: 30 s to a minute, if short enough"  # a run's speed to begin with (start_speed)
LONGEST_WATCHABLE = 60  # watchable's speed: the slowest that ends a run within this (the digits default's 120 steps
                        # at 3 a second, 40 s; digits-2d's 3,600 at 100, 36 s)
CURVE_POINTS = 150      # train points sent to the live view at most (a long run's are thinned)
# The live form's fields, changing a run from its next step (_change)
NEXT_BETA, NEXT_LR = Field("β from the next step", 0.0, 100.0), Field("Learning rate from the next step", 1e-5, 1.0)
KEEP_PICTURES = 3       # a live run's latest snapshots' pictures kept served; older ones are deleted
_served_pictures: dict[str, tuple] = {}  # run id -> (its names' token, [(URL of a snapshot's pictures, its step)],
                                         # oldest first)
_lock = threading.Lock()


def speed_label(steps_per_second: float | None) -> str:
    """The speed picker's label for a run's speed limit (Run.speed_limit)."""
    return next((label for label, value in SPEEDS.items() if value == steps_per_second), FASTEST)


def start_speed(choice: str, total_steps: int) -> float | None:
    """A run's speed to begin with: a SPEEDS label's, or for WATCHABLE the slowest of them that ends total_steps
    within LONGEST_WATCHABLE, else as fast as it goes (an MNIST run, which takes longer than that anyway). As fast as
    possible, the default before, ended a digits run before its live view had shown anything; the slowest within
    30 s, the rule after, ran the digits default's 120 steps in 12 s, and a lecturer found the run over before the
    lesson's pause "near step 80" landed."""
    if choice != WATCHABLE:
        return SPEEDS[choice]
    return next((v for v in SPEEDS.values() if v is not None and total_steps / v <= LONGEST_WATCHABLE), None)


# ---- a run while it trains ----

def controls(run: Run) -> None:
    """Pause or resume, one step or the rest of the epoch while paused, the speed, and beta / the learning rate
    changed while it trains (applied at the next step, marked on the curves, kept in the checkpoint's history)."""
    if not (run.live and run.active):
        return
    # One row where it fits (at 1400 px: more of the view shows below), wrapping where it does not: in five columns
    # an 800 px window cut "Pause" to "F" and "Rest of the epoch" to "Rest o…".
    row = st.container(horizontal=True, wrap=True, vertical_alignment="bottom", gap="medium")
    if run.paused:
        held = (f"; a paused run lends its CPUs to runs waiting for them, and one left "
                f"{duration_text(run.pause_limit)} with no command stops, keeping its finished epochs"
                if run.pause_limit else "")
        row.button("Resume", key=f"resume_{run.id}", on_click=_then_feed(run, run.resume),
                   icon=":material/play_arrow:", help=f"go on at the chosen speed{held}")
    else:
        row.button("Pause", key=f"pause_{run.id}", on_click=_then_feed(run, run.pause), icon=":material/pause:")
    # Pause works while the run waits in Ray's queue (it starts held), a step only once it has started.
    stepping = run.paused and run.state == RunState.RUNNING
    row.button("One step", key=f"step_{run.id}", on_click=run.step_once, disabled=not stepping,
               help="one batch, then wait (pause first; once the run has started)")
    row.button("Rest of the epoch", key=f"epoch_{run.id}", on_click=run.finish_epoch, disabled=not stepping,
               help="train to the end of this epoch, then wait (pause first; once the run has started)")
    st.session_state.setdefault(f"speed_{run.id}", speed_label(run.speed_limit))
    row.select_slider("Speed", list(SPEEDS), key=f"speed_{run.id}", on_change=_speed, args=(run,), width=280,
                      help="the most steps a second: slow enough, even a digits run can be watched for a minute")
    row.button("Stop", key=f"stop_{run.id}", on_click=run.stop, icon=":material/stop:",
               help="it keeps its finished epochs")
    with st.form(f"change_{run.id}", border=False):
        e, f, g = st.columns([2, 2, 1], vertical_alignment="bottom")
        beta = NEXT_BETA(e, value=in_force(run, "beta"), step=0.1)
        lr = NEXT_LR(f, value=in_force(run, "lr"), format="%.5f")
        if g.form_submit_button("Apply"):
            _change(run, beta, lr)
        if line := change_line(run):  # under the form, where nothing of the view is (a toast covered the end of
            st.caption(line)          # the progress line for 4 s)


def _then_feed(run: Run, action):
    """action, then the run's feed written again (a pause or a resume brings no event of the run's own)."""
    def act():
        action()
        feed(run)
    return act


def in_force(run: Run, name: str, asked: bool = True) -> float:
    """The run's beta or learning rate from its next step: the last asked for (a paused run applies it when it goes
    on: read from what the worker applied, a reload of a paused run showed β = 1 after β = 3 had been asked for),
    else (or without asked) the last change its worker applied, else its config's."""
    if asked and name in run.asked:
        return float(run.asked[name])
    changed = [c[name] for c in run.changes if name in c]
    return float(changed[-1] if changed else getattr(run.config, name))


def _speed(run: Run) -> None:
    run.speed(SPEEDS.get(st.session_state.get(f"speed_{run.id}")))


def _change(run: Run, beta: float, lr: float) -> None:
    new = {k: v for k, v in (("beta", beta), ("lr", lr)) if v != in_force(run, k)}
    if wrong := refused({NEXT_BETA: beta, NEXT_LR: lr}):
        st.error(wrong)
        return
    if not new:
        return
    try:
        run.change(**new)
    except ConfigError as e:
        st.error(str(e))


def change_line(run: Run) -> str | None:
    """What was last asked of the run's β and learning rate, said until the next change: waiting for its next step
    (a paused run's, when it goes on), else where it landed. (Said once, at the Apply, the line was gone at the next
    click: a lecturer who pressed Enter, which applies, then Apply, which found nothing new, saw no word of it.)"""
    waiting = {k: v for k, v in run.asked.items() if in_force(run, k, asked=False) != v}
    said = lambda values: ", ".join(f"{'β' if k == 'beta' else 'learning rate'} = {v:g}"  # noqa: E731
                                    for k, v in values.items())
    if waiting:
        return (":material/tune: From the run's next step (a little ahead of the view; the curves mark where it "
                f"landed){', when it goes on' if run.paused else ''}: {said(waiting)}")
    if run.asked and run.changes:
        last = run.changes[-1]
        return (f":material/tune: Changed at step {last['step']:,} (the dashed line on the curves): "
                + said({k: last[k] for k in ("beta", "lr") if k in last}))
    return None


def live_view(run: Run, *, key: str = "live_view") -> None:
    """The run's live view, drawn in the browser from its feed (feed()): call it once per page run, not from a
    redrawn block; the browser fetches the feed twice a second, so nothing here reruns to move it."""
    config = run.config
    rows = subset_rows(len(run.data.test_x))
    data = {
        "key": key, "run": run.id, "feed": feed(run), "every": FEED_EVERY, "latentDim": config.latent_dim,
        "palette": PALETTE, "classes": list(run.data.classes), "threshold": ACTIVE_THRESHOLD,
        "labels": served.url(run.data.test_y[rows].numpy().astype(np.uint8).tobytes()),
        "count": len(picture_latents(config.latent_dim)), "nrow": pictures_per_row(config.latent_dim),
        "height": int(config.image_shape[1]), "width": int(config.image_shape[2]),
    }
    _live(key=key, data=data, height="content", on_ended_change=lambda: None)  # its feed is gone: the page reruns


FEED_EVERY = 0.5        # seconds between two fetches of a live run's feed by its view
FEED_GAP = 0.4          # seconds between two writes of it at least (its run's events come every 0.5 s)
FOLLOW_EVERY = 5.0      # seconds between a page's own checks of a run whose live view draws its progress: the view
                        # reruns the page when the run ends (its feed is gone); this is in case it cannot. Twenty
                        # sessions' progress lines redrawn each second were 40% of what they received
ENDED_KEPT_S = 10.0     # seconds an ended run's feed still says so before it is deleted
ENDED = "ended"
_feeds: dict[str, tuple] = {}  # run id -> (the URL of its feed, its _FeedWriter)


def feed(run: Run) -> str:
    """The URL of the run's feed: a small JSON file (its latest snapshot with its pictures' URL, curves, step and
    state) written from the run's own thread as its events come, at most every FEED_GAP, under a name
    nobody can guess; when the run ends it says so, and is deleted ENDED_KEPT_S later."""
    with _lock:
        if run.id not in _feeds:
            name = f"live-{secrets.token_hex(16)}.json"
            _feeds[run.id] = served.path_url(name), _FeedWriter(served.FOLDER / name)
            run.listeners.append(_feeds[run.id][1])
    url, writer = _feeds[run.id]
    writer(run)
    return url


class _FeedWriter:
    """Writes a run's feed (feed()) when something new came, at most every FEED_GAP (what comes sooner is written
    then, from a timer: a paused run's last step is not left out); at the end, {"ended": true}. Called from the run's
    thread (after each of its events, about every half second), a timer's and the page's (a pause changes no
    event). The gap is a little shorter than the runs' events' so that they are written as they come, not from a
    timer started for each (twenty live runs' feeds were most of a class server's own CPU)."""

    def __init__(self, path: Path):
        self.path, self.written, self.last, self.timer = path, -float("inf"), None, None
        self.curves = _Curves()
        self.extent, self.extent_step = 0.0, None  # its map's half-width: the largest of its snapshots' so far
        self.lock = threading.Lock()

    def __call__(self, run: Run) -> None:
        with self.lock:
            if not run.active:
                # "ended", then gone a little later: deleted at once, a fetch under way met Streamlit's static route
                # between its check that the file exists and its stat, and the server logged a traceback
                if self.last != ENDED:
                    served.write_file(self.path, b'{"ended":true}', sweep=False)
                    self.last = ENDED
                    remove = threading.Timer(ENDED_KEPT_S, self.path.unlink, kwargs={"missing_ok": True})
                    remove.daemon = True
                    remove.start()
                with _lock:
                    for url, _ in _served_pictures.pop(run.id, (None, []))[1]:
                        served.forget(url)
                    _feeds.pop(run.id, None)
                return
            wait = self.written + FEED_GAP - time.monotonic()
            if wait > 0:
                if self.timer is None:
                    self.timer = threading.Timer(wait, self._later, args=(run,))
                    self.timer.daemon = True
                    self.timer.start()
                return
            snapshot = run.snapshot
            if snapshot is not None and snapshot.step != self.extent_step:
                self.extent, self.extent_step = max(self.extent, snapshot_extent(snapshot.mu)), snapshot.step
            content = _feed_content(run, self.extent), self.curves.json(run)
            if content != self.last:
                text = _json(content[0])[:-1] + ',"curves":' + content[1] + "}"  # the curves' kept text, not re-encoded
                served.write_file(self.path, text.encode(), sweep=False)
                self.written, self.last = time.monotonic(), content

    def _later(self, run: Run) -> None:
        self.timer = None
        self(run)


def _feed_content(run: Run, extent: float) -> dict:
    """The feed but its curves (_Curves); extent: its map's half-width."""
    snapshot = run.snapshot
    return {
        "snapshot": None if snapshot is None else {
            "step": snapshot.step, "epoch": round(snapshot.epoch, 3), "dims": list(snapshot.dims),
            "mu": _base64(snapshot.mu), "logvar": _base64(snapshot.logvar),
            "kl": [round(float(v), 5) for v in snapshot.kl_per_dim], "active": _active(snapshot),
            "pictures": _pictures(run.id, snapshot), "extent": extent},
        "current": run.steps_done,
        # a running run's line; a waiting one's is the page's, redrawn as the runs ahead of it start ("" here: the
        # view drew it too, and this one was not rewritten when a run ahead started)
        "progress": {"fraction": round(run.fraction, 4),
                     "text": progress.line(run) if run.state == RunState.RUNNING else ""},
    }


def _active(snapshot) -> list[bool] | None:
    """Which of the snapshot's units are active, as every page counts them (their posterior means' variance over
    ACTIVE_THRESHOLD; the bars grey the others), or None where its recording holds no activity (a wider model's
    recorded before it was kept: the bars then grey a unit by its KL)."""
    return None if snapshot.activity is None else [bool(v > ACTIVE_THRESHOLD) for v in snapshot.activity]


class _Curves:
    """A live run's curves as the view draws them, kept as JSON text and extended as its steps and epochs come:
    train points (thinned to at most CURVE_POINTS, every 2**n-th) of -ELBO (recon + KL, not the optimised recon +
    beta KL: a beta change would move it without the model changing), reconstruction and KL, the test values after
    each epoch, the changes made while it trains, and the run's steps in all. Made from scratch twice a second, a
    300-epoch run's curves took most of a millisecond (rounding, encoding): twenty runs' were a class server's
    largest cost of its own."""

    def __init__(self):
        self.every, self.train, self.test, self.per_epoch = 1, [], [], None

    def json(self, run: Run) -> str:
        steps, every = run.steps, self.every
        while -(-len(steps) // every) > CURVE_POINTS:
            every *= 2
        if every != self.every:  # steps[::2e] are every other one of steps[::e]
            self.train, self.every = self.train[::every // self.every], every
        self.train += [_json(_train_point(s, recon, kl)) for s, _, recon, kl in steps[len(self.train) * every::every]]
        last = [_json(_train_point(s, recon, kl)) for s, _, recon, kl in steps[-1:] if (len(steps) - 1) % every]
        if run.steps_per_epoch != self.per_epoch:
            self.test, self.per_epoch = [], run.steps_per_epoch
        self.test += [_json(_test_point(r, self.per_epoch)) for r in run.history[len(self.test):]]
        return (f'{{"train":[{",".join(self.train + last)}],"test":[{",".join(self.test)}],'
                f'"changes":{_json(_change_marks(run.changes))},"total":{run.config.epochs * run.steps_per_epoch}}}')


def _train_point(step: int, recon: float, kl: float) -> list:
    return [int(step), round(recon + kl, 2), round(recon, 2), round(kl, 2)]


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def recorded_curves(history: list[dict], steps_per_epoch: float, total: int) -> dict:
    """A finished run's curves from its checkpoint's history, as _Curves makes a live run's: each epoch's train
    means of -ELBO, reconstruction and KL at the step it ended, its test values, the changes made while it
    trained; for the replay, which marks its snapshot's step on them, on a log axis as its snapshots are spaced."""
    train = [_train_point(round(r["epoch"] * steps_per_epoch), r["train_recon"], r["train_kl"]) for r in history]
    changes = [c for r in history for c in r.get("changes", ())]
    return {"train": train, "test": [_test_point(r, steps_per_epoch) for r in history],
            "changes": _change_marks(changes), "total": total, "log": True}


def _test_point(record: dict, steps_per_epoch: float) -> list:
    return [round(record["epoch"] * steps_per_epoch), round(record["test_nelbo"], 3), round(record["test_recon"], 3),
            round(record["test_kl"], 3)]


def _change_marks(changes: list[dict]) -> list[list]:
    """[step, "β = 5, lr = 0.002"] for each change made while a run trained."""
    return [[c["step"], change_label(c)] for c in changes]


def _base64(array: np.ndarray) -> str:
    """Half-precision numbers (the map draws them, a pixel is 0.03 of a unit): half the bytes of float32."""
    return base64.b64encode(np.ascontiguousarray(np.clip(array, -6e4, 6e4), "<f2").tobytes()).decode()


def _pictures(run_id: str, snapshot) -> str:
    """The URL of the snapshot's pictures (uint8, [P, H, W]), under a name of its run's and step's that nobody can
    guess (not by content: two students' runs of one config draw the same pictures, and one run deleting its old
    ones took them from the other); a run's older ones are deleted as newer ones come."""
    with _lock:
        token, sent = _served_pictures.setdefault(run_id, (secrets.token_hex(16), []))
        if sent and sent[-1][1] == snapshot.step:
            return sent[-1][0]
        name = f"live-{token}-{snapshot.step}.bin"
        served.write_file(served.FOLDER / name, np.ascontiguousarray(snapshot.pictures, np.uint8).tobytes(),
                          sweep=False)
        sent.append((served.path_url(name), snapshot.step))
        while len(sent) > KEEP_PICTURES:
            served.forget(sent.pop(0)[0])
        return sent[-1][0]


# ---- a recording ----

def has_recording(folder: str) -> bool:
    return (Path(folder) / RECORDING).is_file()


def replay(folder: str, checkpoint, *, key: str = "replay") -> None:
    """The recording of the checkpoint in folder (has_recording), scrubbed and played in the browser, and its GIF;
    a CheckpointError if the recording does not parse."""
    path = Path(folder) / RECORDING
    classes = DATASETS[checkpoint.config.dataset].classes
    stat = path.stat()
    config = checkpoint.config
    recording, blobs = _recording(str(path.parent), config.latent_dim, tuple(config.image_shape), stat.st_mtime,
                                  stat.st_size)
    s = recording.snapshots
    data = {"key": key, **{name: served.url(blob, digest) for name, (blob, digest) in blobs.items()},
            "count": int(s[0].pictures.shape[0]), "nrow": pictures_per_row(config.latent_dim),
            "height": int(config.image_shape[1]), "width": int(config.image_shape[2]), "latentDim": config.latent_dim,
            "steps": [x.step for x in s], "epochs": [round(x.epoch, 3) for x in s], "dims": [list(x.dims) for x in s],
            "kl": [[round(float(v), 5) for v in x.kl_per_dim] for x in s], "active": [_active(x) for x in s],
            "klTop": float(max(x.kl_per_dim.max() for x in s)), "extent": plane_extent(recording),
            "palette": PALETTE, "classes": list(classes), "threshold": ACTIVE_THRESHOLD, "curves": None}
    if checkpoint.history and s[-1].epoch > 0:  # the epochs the recording covers, with its steps per epoch
        data["curves"] = recorded_curves(checkpoint.history, s[-1].step / s[-1].epoch, s[-1].step)
    _replay(key=key, data=data, height="content")
    st.download_button("Animated GIF for a slide", data=lambda: recording_gif(recording, classes, PALETTE),
                       file_name=f"{Path(folder).name}-training.gif", mime="image/gif", icon=":material/download:",
                       key=f"{key}_gif", help="a frame per snapshot: the map beside its pictures, about 1,000 px wide")


@functools.lru_cache(maxsize=8)
def _recording(folder: str, latent_dim: int, image_shape: tuple, _mtime: float, _size: int
               ) -> tuple[Recording, dict[str, tuple[bytes, str]]]:
    """A recording (raises CheckpointError if it does not parse) and the bytes the replay fetches, with digests;
    read again when the file changes."""
    recording = load_recording(folder, latent_dim, image_shape)
    s = recording.snapshots
    blobs = {"mu": np.stack([x.mu for x in s]), "sigma": np.exp(0.5 * np.stack([x.logvar for x in s])),
             "labels": recording.labels.astype(np.uint8), "pictures": np.stack([x.pictures for x in s])}
    blobs = {k: np.ascontiguousarray(v, "<f4" if v.dtype.kind == "f" else np.uint8).tobytes() for k, v in blobs.items()}
    return recording, {k: (v, served.digest(v)) for k, v in blobs.items()}
