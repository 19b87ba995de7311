"""A live run's feed as the server writes it (ui/live.py): the curves it keeps and extends, when it is written, and
the served folder's writes under it (ui/served.py). The browser's side is in test_browser_training."""
from __future__ import annotations

import json
import os
import random
import time

import numpy as np
import pytest

from ui import live, served
from vae_core import Config, load_dataset
from vae_core.recording import Snapshot
from vae_core.runs import Run, RunState
from waiting import wait_until


@pytest.fixture
def run(tmp_path):
    """A run as its thread fills it in while it trains (its task is not started: the feed reads the fields only)."""
    r = Run(config=Config(dataset="digits", epochs=300), data=load_dataset("digits"), folder=tmp_path / "run", live=True)
    r.state, r.steps_per_epoch = RunState.RUNNING, 12
    return r


def from_scratch(run: Run) -> list[list]:
    """The train points the view draws: every 2**n-th step (at most CURVE_POINTS of them) and the last."""
    every = 1
    while -(-len(run.steps) // every) > live.CURVE_POINTS:
        every *= 2
    points = run.steps[::every] + (run.steps[-1:] if (len(run.steps) - 1) % every else [])
    return [[s, round(recon + kl, 2), round(recon, 2), round(kl, 2)] for s, _, recon, kl in points]


def test_the_curves_extended_as_a_run_s_events_come_equal_the_curves_made_from_scratch(run):
    random.seed(1)
    curves = live._Curves()
    run.changes = [{"step": 3, "epoch": 1, "beta": 2.0}]
    for event in range(500):  # past CURVE_POINTS several times: the thinning doubles as the steps grow
        run.steps = run.steps + [(len(run.steps) + j, 0.0, random.uniform(50, 150), random.uniform(0, 20))
                                 for j in range(random.randint(0, 7))]
        if event % 5 == 4:
            run.history = run.history + [{"epoch": len(run.history) + 1, "test_nelbo": 101.23456,
                                          "test_recon": 90.5, "test_kl": 10.73456}]
        drawn = json.loads(curves.json(run))
        assert drawn["train"] == from_scratch(run), f"after {len(run.steps)} steps"
        assert drawn["test"] == [[12 * r["epoch"], 101.235, 90.5, 10.735] for r in run.history]
        assert drawn["changes"] == [[3, "β = 2"]] and drawn["total"] == 300 * 12
    assert live.CURVE_POINTS // 2 < len(drawn["train"]) <= live.CURVE_POINTS + 1


def test_a_feed_is_written_as_events_come_what_comes_sooner_later_and_removed_with_its_run(run, tmp_path,
                                                                                          monkeypatch):
    """Each snapshot's pictures are served beside the feed under a name of the run's (the view shows a snapshot
    once its pictures are here); the run's last KEEP_PICTURES are kept, and none once it ended."""
    monkeypatch.setattr(served, "FOLDER", tmp_path)
    path = tmp_path / "live-feed.json"
    writer = live._FeedWriter(path)

    def snapshot(step, spread=0.0):
        run.snapshot = Snapshot(step=step, epoch=step / 12, dims=(0, 1), mu=np.full((5, 2), spread, np.float32),
                                logvar=np.zeros((5, 2), np.float32), kl_per_dim=np.ones(2, np.float32),
                                pictures=np.full((16, 8, 8), step, np.uint8),
                                activity=np.array([0.02, 0.01], np.float32))
        run.steps = run.steps + [(step, 0.0, 100.0, 5.0)]
        writer(run)

    def served_pictures(feed) -> bytes:
        return (tmp_path / feed["snapshot"]["pictures"].rsplit("/", 1)[-1]).read_bytes()

    snapshot(1)
    feed = json.loads(path.read_text())
    assert feed["snapshot"]["step"] == 1  # the first event is written at once
    assert feed["snapshot"]["active"] == [True, False]  # over ACTIVE_THRESHOLD, as every page counts a unit
    assert served_pictures(feed) == bytes([1]) * 16 * 64
    snapshot(2)  # within the gap: left for a timer, which writes it
    snapshot(3)
    wait_until(lambda: json.loads(path.read_text())["snapshot"]["step"] == 3, 5, "the last step written")
    feed = json.loads(path.read_text())
    assert feed["current"] == 0 and feed["progress"]["text"].startswith("epoch 1 of 300")  # training, not waiting
    assert [p[0] for p in feed["curves"]["train"]] == [1, 2, 3]
    assert served_pictures(feed) == bytes([3]) * 16 * 64
    assert feed["snapshot"]["extent"] == 2.0  # the map's half-width: 2 at least
    for step, spread in zip(range(4, 8), (5.2, 1.0, 3.0, 0.0)):
        time.sleep(live.FEED_GAP)
        snapshot(step, spread)
        extent = json.loads(path.read_text())["snapshot"]["extent"]
        assert extent == 5.5  # the largest its snapshots needed so far, in halves: it grows, never shrinks
    pictures = sorted(p.name for p in tmp_path.glob("live-*.bin"))
    assert len(pictures) == live.KEEP_PICTURES and pictures[-1].endswith("-7.bin")  # older ones deleted
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    monkeypatch.setattr(live, "ENDED_KEPT_S", 0.5)
    run.state = RunState.DONE
    writer(run)
    # it says the run ended, then is gone (deleted at once, a fetch under way met Streamlit's route between its check
    # that the file exists and its stat: a traceback in the server's log)
    assert json.loads(path.read_text()) == {"ended": True} and not list(tmp_path.glob("live-*.bin"))
    writer(run)  # (called again by another of its listeners: nothing changes)
    wait_until(lambda: not path.exists(), 5, "the ended feed deleted")
    assert not list(tmp_path.glob("live-*"))


def test_the_served_folder_deletes_files_idle_for_a_day_at_most_once_a_minute(tmp_path, monkeypatch):
    monkeypatch.setattr(served, "FOLDER", tmp_path)
    monkeypatch.setattr(served, "_swept", 0.0)
    idle, module = tmp_path / "idle.bin", tmp_path / f"code{served.MODULE}"
    for old in (idle, module):
        old.write_bytes(b"x")
        os.utime(old, (time.time() - served.MAX_IDLE_S - 60,) * 2)
    served.write_file(tmp_path / "new.bin", b"new")
    assert not idle.exists() and module.exists() and (tmp_path / "new.bin").read_bytes() == b"new"
    idle.write_bytes(b"x")
    os.utime(idle, (time.time() - served.MAX_IDLE_S - 60,) * 2)
    served.write_file(tmp_path / "other.bin", b"other")  # within the minute: no sweep
    assert idle.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["idle.bin", module.name, "new.bin", "other.bin"])


def test_a_run_s_time_left_is_read_from_its_pace_since_its_last_pause_or_resume(run):
    """10 steps a second for a second: 120 steps left of 3,600 take about 348 s. A pause of any length is not
    counted (from the start, a paused minute made a resumed run say 18 s where 5 were left): after a resume, no
    estimate until two reports, then the new pace's."""
    from vae_core.events import Steps

    def report(steps_done, since=0.0):
        epoch, step = divmod(steps_done, 12)
        run.epoch = epoch  # (its EpochEvents would have set it)
        run._apply(Steps(points=((steps_done, 0.0, 100.0, 5.0),), step=step, steps_per_epoch=12, epoch=epoch + 1,
                         at=time.monotonic(), since=since))

    for steps_done in range(0, 11, 5):
        report(steps_done)
        time.sleep(0.5)
    assert run.eta_seconds == pytest.approx((3600 - 10) / 10 - 0.5, rel=0.15)
    run.pause()
    assert run.eta_seconds is None
    time.sleep(1.0)
    run.resume()
    resumed = time.monotonic()  # when the worker carried it out
    report(10, since=resumed)
    assert run.eta_seconds is None  # one report since the resume
    time.sleep(0.5)
    report(30, since=resumed)  # 40 steps a second now
    assert run.eta_seconds == pytest.approx((3600 - 30) / 40, rel=0.15)
    report(3590, since=resumed)  # ten steps left, their time past while no report came: a second, not "0 s"
    time.sleep(0.5)
    assert run.eta_seconds == 1.0


def test_a_run_s_time_left_is_read_from_the_worker_s_times_of_its_steps_not_from_when_their_reports_came(run):
    """A fast digits run's epochs (12 steps) are shorter than a flush (0.5 s): each delivery brings a Steps per epoch,
    all applied at once, and twenty of them, the whole pace window, read as no time: "about 0 s left" with a third of
    the run to go. And a slow one's flushes bring 2 or 4 steps at 3 a second: a resumed run told 14 s for 9. The pace
    is the worker's, from the times it took the steps."""
    from vae_core.events import Steps

    began = time.monotonic()

    def deliver(first_epoch):  # 25 epochs of 12 steps, at 600 steps a second, in one delivery
        for epoch in range(first_epoch, first_epoch + 25):
            run.epoch = epoch
            run._apply(Steps(points=(), step=12, steps_per_epoch=12, epoch=epoch + 1,
                             at=began + (epoch + 1) * 12 / 600))

    deliver(0)
    assert run.eta_seconds == pytest.approx((3600 - 300) / 600, rel=0.1)  # from the first delivery on
    deliver(25)
    time.sleep(0.2)
    assert run.eta_seconds == pytest.approx((3600 - 600) / 600 - 0.2, rel=0.1)  # less the time since it came
    run.speed(3)
    for steps_done, at in ((601, 0.0), (603, 0.67), (604, 1.0)):  # 3 steps a second, in flushes of 2 and 1 steps
        run.epoch, step = divmod(steps_done, 12)
        run._apply(Steps(points=(), step=step, steps_per_epoch=12, epoch=run.epoch + 1, at=began + 10 + at,
                         since=began + 10))
    assert run.eta_seconds == pytest.approx((3600 - 604) / 3, rel=0.05)


def test_a_speed_set_while_a_run_goes_is_read_from_the_steps_after_the_worker_applied_it(run):
    """Told 3 steps a second while taking 10, a run said "about 6 s left" with 30 steps to go (13 s): the reports
    that came after the command still held steps taken at 10 a second, before the worker had it. Each report says
    when the worker last applied a pause, resume or speed (Steps.since); the pace is read from after it."""
    from vae_core.events import Steps

    def report(steps_done, at, since):
        run.epoch, step = divmod(steps_done, 12)
        run._apply(Steps(points=(), step=step, steps_per_epoch=12, epoch=run.epoch + 1, at=at, since=since))

    report(10, 1.0, 0.0)
    report(15, 1.5, 0.0)  # 10 steps a second
    assert run.eta_seconds is not None
    run.speed(3)
    assert run.eta_seconds is None
    report(19, 1.95, 0.0)  # flushed before the worker had the command: the old pace
    assert run.eta_seconds is None
    report(24, 2.35, 2.4)  # 20 to 24 still at 10 a second; the command applied at 2.4
    report(25, 2.73, 2.4)  # then 3 a second
    report(27, 3.4, 2.4)
    assert run.eta_seconds == pytest.approx((3600 - 27) / 3, rel=0.08)  # (at 10 a second it read 5.7 a second)


def test_a_waiting_run_s_feed_has_no_progress_line_of_its_own(run):
    """A queued run's line was drawn twice, by the page and by its view ("queued: 1 job ahead" above and below Stop),
    and the view's was not rewritten as runs ahead of it started: the page alone draws a waiting run's line."""
    run.state = RunState.QUEUED
    assert live._feed_content(run, 2.0)["progress"]["text"] == ""
    run.state = RunState.RUNNING
    assert live._feed_content(run, 2.0)["progress"]["text"].startswith("epoch 1 of 300")


def test_a_map_s_frame_holds_every_mean_of_its_snapshot():
    """Held to 99.5% of them, the frame stayed at ±2 for a paused run whose few means at 2.3 were drawn on its edge,
    read as lying there."""
    from vae_core.recording import snapshot_extent

    mu = np.random.default_rng(0).uniform(-1.9, 1.9, (300, 2)).astype(np.float32)
    assert snapshot_extent(mu) == 2.0
    mu[7, 1] = -2.3
    assert snapshot_extent(mu) == 2.5
    mu[8, 0] = 40.0
    assert snapshot_extent(mu) == 8.0  # at most 8
    mu[9, 0] = np.nan
    assert snapshot_extent(mu) == 8.0 and snapshot_extent(np.full((3, 2), np.nan, np.float32)) == 2.0


def test_a_run_told_to_pause_says_pausing_until_its_worker_says_it_waits_and_stopping_until_it_ends(run):
    """A page said "paused" at the click while the worker, a command's trip away, took 20 more steps at 30 a
    second; the line now says "paused" from the worker's Held on, with the step it waits at."""
    from ui import progress
    from vae_core.events import EpochEvent, Held, Steps

    run._apply(Steps((), 5, 12, 1, time.monotonic()))
    run._command = lambda command: None  # (its task is not started: the commands go nowhere)
    assert progress.line(run).startswith("epoch 1 of 300 · step 5 of 3,600")
    run.pause()
    assert progress.line(run).startswith("pausing · epoch 1 of 300 · step 5")
    run._apply(Steps((), 9, 12, 1, time.monotonic()))
    run._apply(Held(9))
    assert progress.line(run).startswith("paused · epoch 1 of 300 · step 9 of 3,600 (stops if left 10 minutes")
    run.step_once()
    assert progress.line(run).startswith("paused, taking 1 step · ")  # until it has taken it and waits again
    run._apply(Held(9))  # the wait before that step, reported late: still taking it
    assert progress.line(run).startswith("paused, taking 1 step · ")
    run._apply(Held(10))
    assert progress.line(run).startswith("paused · ")
    run.finish_epoch()  # a walk-through read "pausing" while it trained on to the epoch's end
    assert progress.line(run).startswith("paused, taking the rest of the epoch · ")
    assert progress.status(run) == "paused, taking the rest of the epoch · epoch 1 of 300"
    run._apply(Held(12))
    assert progress.line(run).startswith("paused · ")
    run._apply(EpochEvent(1, 300, {"epoch": 1}))  # held between epochs: the snapshot beside it says "1.00 epochs done"
    assert progress.line(run).startswith("paused · epoch 1 of 300 done · step 12 of 3,600")
    run.resume()
    run._apply(Held(10))  # a hold that comes after the resume was sent does not say paused
    assert progress.line(run).startswith("epoch 1 of 300")
    run._stop_requested = True
    assert progress.line(run).startswith("stopping · ")


def test_a_run_given_to_ray_with_nothing_training_here_says_it_is_starting_not_queued(run):
    """A student's first run read "queued: next to start" for 7 s while Ray readied its first worker, which read
    as someone ahead of it."""
    from ui import progress

    run.state, run.cpus = RunState.QUEUED, 1
    assert progress.waiting(run).startswith("starting: Ray is readying a worker process for it")
    assert progress.status(run) == progress.waiting(run)


def test_the_pace_after_a_speed_change_is_read_from_the_first_step_after_it_not_from_the_command(run):
    """Slowed from 3 steps a second to 1, 0.25 s after its last step: the next step comes 1 s after that one, 0.75 s
    after the command, and the first estimate, read from the command, was "68 s left" for 89 steps (a reviewer's
    walk-through; 81 s five seconds later, for 84)."""
    from vae_core.events import Steps

    def report(steps_done, at, since):
        run.epoch, step = divmod(steps_done, 12)
        run._apply(Steps(points=(), step=step, steps_per_epoch=12, epoch=run.epoch + 1, at=at, since=since))

    run.config = run.config.replace(epochs=10)  # 120 steps
    report(28, 9.33, 0.0)
    report(30, 10.0, 0.0)  # 3 a second
    run.speed(1)
    report(30, 10.0, 10.25)  # the worker applied it at 10.25, after its last step at 10.0
    assert run.eta_seconds is None
    report(31, 11.0, 10.25)  # 1 s after step 30
    report(32, 12.0, 10.25)
    assert run.eta_seconds == pytest.approx(120 - 32, rel=0.05)  # 1 a second: 88 s
