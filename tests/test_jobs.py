"""Training jobs on a real Ray node (the session's: every test here asks for conftest's ray_address): they train
on a worker with their own CPU budget, report progress while they run, stop whether queued or running, survive a
killed worker, and bring the checkpoint back into the job's folder."""
import os
import signal
import time

import pytest
import torch

from vae_core import Config, load_checkpoint
from vae_core.checkpoint import new_run_dir
from vae_core.data import Dataset
from vae_core.evaluation import shown_total
from vae_core.runs import start_runs
from vae_core.records import beta_text, lr_text
from waiting import wait_until

SMALL = Config(dataset="digits", hidden=(32,), latent_dim=2, batch_size=100)
pytestmark = pytest.mark.usefixtures("ray_address")


def test_a_job_trains_on_a_ray_worker_and_saves_here(digits, tmp_path):
    job = start_runs(SMALL.replace(epochs=3), digits, new_run_dir(tmp_path, SMALL)).runs[0]
    job.join(timeout=180)
    assert job.state == "done" and "finished 3 epochs; saved" in job.message, job.message
    assert job.worker.pid != os.getpid() and job.worker.threads == 1  # digits: a budget of one CPU
    assert job.worker.nice > os.nice(0)  # it yields the CPU to the pages (Ray's workers run at nice 15)
    assert job.fraction == 1.0 and len(job.history) == 3 and job.steps
    assert job.preview.shape == (2 * 9 + 1, 8 * 9 + 1)  # 8 originals over their reconstructions, 1-pixel gaps
    saved = load_checkpoint(job.checkpoint)
    assert saved.history == job.history and saved.metrics["nelbo"] == pytest.approx(job.history[-1]["test_nelbo"])


def test_torch_runs_on_the_cpus_the_job_asked_ray_for(digits, tmp_path):
    job = start_runs(SMALL.replace(epochs=1), digits, tmp_path / "two", cpus=2).runs[0]
    job.join(timeout=180)
    assert job.state == "done" and job.worker.threads == 2


def test_progress_reaches_the_submitter_while_the_job_runs(digits, tmp_path):
    job = start_runs(SMALL.replace(epochs=300), digits, tmp_path / "long").runs[0]
    try:
        wait_until(lambda: job.state == "running", what="the job to start")
        wait_until(lambda: len(job.history) >= 2 and job.steps, what="epochs and step losses")
        seen = len(job.steps)
        wait_until(lambda: len(job.steps) > seen, what="more step losses")
        assert job.active and job.epoch < 300 and job.preview is not None
    finally:
        job.stop()
        job.join(timeout=60)


def test_a_long_epoch_s_curve_begins_at_its_first_steps(digits, tmp_path):
    """STEP_POINTS losses an epoch, and the first epoch's steps 1, 2, 4, ... besides: at batch 1 an MNIST epoch of
    60,000 steps kept its first point at step 3,000, and a walk-through's curves stayed empty for minutes."""
    from vae_core.workers import STEP_POINTS, point_kept

    job = start_runs(SMALL.replace(epochs=2, batch_size=1), digits, tmp_path / "long").runs[0]
    job.join(timeout=120)
    every = job.steps_per_epoch // STEP_POINTS
    assert job.state == "done" and every > 64
    steps = [s for s, *_ in job.steps]
    assert steps[:7] == [1, 2, 4, 8, 16, 32, 64] and steps[7] == min(every, 128)
    assert steps == [s for s in range(1, 2 * job.steps_per_epoch + 1)
                     if point_kept((s - 1) % job.steps_per_epoch + 1, 1 + (s - 1) // job.steps_per_epoch,
                                   job.steps_per_epoch)]
    assert len(steps) <= 2 * STEP_POINTS + 12  # bounded: a few more than STEP_POINTS an epoch


def test_stopping_a_running_job_keeps_its_finished_epochs(digits, tmp_path):
    job = start_runs(SMALL.replace(epochs=500), digits, tmp_path / "run").runs[0]
    wait_until(lambda: job.epoch >= 2, what="two epochs")
    job.stop()
    job.join(timeout=60)
    assert job.state == "stopped" and job.message.startswith(f"stopped after {job.epoch} epochs; saved")
    saved = load_checkpoint(job.checkpoint)
    assert len(saved.history) == len(job.history) == job.epoch < 500 and job.step == 0


def test_the_run_control_answers_a_running_task_when_told_and_lets_it_go_when_over():
    """A running task holds a next() open on the control actor instead of asking it over and over: the answer comes
    the moment a command is sent, and the end of the task releases it, in either order."""
    from vae_core import cluster
    from vae_core.events import Stop
    from vae_core.workers import RunControl

    cluster.connect()  # before Ray is imported: it reads the environment that keeps it on loopback then (run alone,
    import ray         # with ray imported first, this test waited for ever for the node's GCS)
    control = ray.remote(num_cpus=0)(RunControl).remote()
    try:
        told, over = control.next.remote("told"), control.next.remote("over")
        ready, _ = ray.wait([told, over], num_returns=2, timeout=1.0)
        assert ready == []  # nothing said yet: both still wait
        control.send.remote("told", Stop())
        control.release.remote("over")
        assert ray.get([told, over], timeout=60) == [Stop(), None]
        control.release.remote("quick")  # a task over before its watcher's next() came
        control.send.remote("early", Stop())  # stopped before it came
        assert ray.get([control.next.remote("quick"), control.next.remote("early")], timeout=60) == [None, Stop()]
    finally:
        ray.kill(control)


def test_the_run_control_hands_numbered_commands_on_in_their_order_and_a_stop_at_once():
    """Ray keeps no order between an async actor's calls: a pause and the "rest of the epoch" sent after it came the
    other way round, and the run waited for ever (test_a_job_that_diverges_... sends them so, through Ray)."""
    from vae_core.events import Pause, Resume, StepOnce, Stop
    from vae_core.workers import RunControl

    control = RunControl()  # its methods, called as the actor calls them
    control.send("run", StepOnce(to_epoch_end=True), 1)
    control.send("run", Resume(), 2)
    assert control.waiting("run") == []  # held until the first arrives
    control.send("run", Stop())
    control.send("run", Pause(), 0)
    assert control.waiting("run") == [Stop(), Pause(), StepOnce(to_epoch_end=True), Resume()]


def test_a_queued_job_waits_says_how_many_are_ahead_and_can_be_stopped(digits, tmp_path, quiet_cluster):
    """Ray starts the tasks it was given in the order they came, whatever their CPU budgets: a 1-CPU run waits
    behind a queued 2-CPU run while a CPU is free, so it has that run ahead (it was told "next to start", counting
    only runs of its own budget, and waited a minute)."""
    long = SMALL.replace(epochs=5000)
    running = start_runs(long, digits, tmp_path / "r", cpus=1).runs[0]  # one of the two CPUs
    waiting = []
    try:
        wait_until(lambda: running.state == "running", what="a running job")
        for i, cpus in enumerate((2, 1)):  # one after the other, so that Ray gets them in this order
            waiting.append(start_runs(long, digits, tmp_path / f"q{i}", cpus=cpus).runs[0])
            wait_until(lambda: waiting[-1].state == "queued", what="a queued job")
        time.sleep(2)
        assert [j.state for j in waiting] == ["queued", "queued"]  # a CPU is free, and the 1-CPU run waits
        assert [j.ahead for j in waiting] == [0, 1]
        waiting[0].stop()
        waiting[0].join(timeout=30)
        assert waiting[0].state == "stopped" and "before it started" in waiting[0].message
        assert not waiting[0].worker and not (tmp_path / "q0").exists()  # never ran, nothing left
        assert waiting[1].ahead == 0
        wait_until(lambda: waiting[1].state == "running", what="the next job to start, on the free CPU")
        assert running.state == "running"
    finally:
        for job in [running] + waiting:
            job.stop()
        for job in [running] + waiting:
            job.join(timeout=60)


def test_a_killed_worker_fails_its_job_and_the_cluster_goes_on(digits, tmp_path):
    job = start_runs(SMALL.replace(epochs=500), digits, tmp_path / "killed").runs[0]
    wait_until(lambda: job.epoch >= 1, what="an epoch")
    os.kill(job.worker.pid, signal.SIGKILL)
    job.join(timeout=60)
    assert job.state == "failed" and "worker training this run died" in job.message
    assert job.checkpoint is None and not (tmp_path / "killed").exists()
    after = start_runs(SMALL.replace(epochs=1), digits, tmp_path / "after").runs[0]
    after.join(timeout=180)
    assert after.state == "done"


def test_a_diverging_job_fails_with_a_message_and_saves_nothing(digits, tmp_path):
    poisoned = Dataset("digits", digits.train_x.clone(), digits.train_y, digits.test_x, digits.test_y,
                       digits.image_shape, digits.classes, "test")
    poisoned.train_x[0] = float("nan")
    job = start_runs(SMALL.replace(epochs=2, batch_size=len(poisoned.train_x)), poisoned, tmp_path / "run").runs[0]
    job.join(timeout=180)
    assert job.state == "failed" and "diverged at epoch 1" in job.message and "nothing saved" in job.message and ".;" not in job.message
    assert job.checkpoint is None and not (tmp_path / "run").exists()


def test_a_job_that_diverges_after_an_epoch_keeps_that_epoch_and_says_so(digits, tmp_path):
    """The epochs before a divergence are saved, as a stopped run's are (the message said "kept the weights of epoch
    1 ...; nothing saved", and nothing was): here the learning rate is raised to 1e12 after epoch 1."""
    config = SMALL.replace(epochs=3, likelihood="gaussian", obs_sigma=1e-3)
    job = start_runs(config, digits, tmp_path / "run").runs[0]
    job.pause()
    job.finish_epoch()  # epoch 1, then it waits
    wait_until(lambda: job.epoch >= 1, what="the first epoch")
    job.change(lr=1e12)
    job.resume()
    job.join(timeout=180)
    assert job.state == "failed" and "diverged at epoch 2" in job.message, job.message
    assert "The 1 epoch before it is saved as" in job.message and "nothing saved" not in job.message
    saved = load_checkpoint(job.checkpoint)
    assert len(saved.history) == 1 and saved.config.lr == config.lr  # the change came in the epoch not kept
    assert all(torch.isfinite(p).all() for p in saved.model.parameters())
    assert f"{shown_total(saved.metrics['recon'], saved.metrics['kl']):.2f} nats" in job.message  # as the sidebar says


def test_a_run_left_paused_on_its_worker_stops(digits, tmp_path):
    """A paused task keeps its worker; one left paused past its limit with no command ends as a stopped run, its
    finished epochs saved, and says why."""
    job = start_runs(SMALL.replace(epochs=5), digits, tmp_path / "run", pause_limit=2.0).runs[0]
    job.pause()
    job.finish_epoch()  # epoch 1, then it waits
    wait_until(lambda: job.epoch >= 1 and job.state == "running", what="the first epoch")
    job.join(timeout=60)
    assert job.state == "stopped", job.message
    assert job.message.startswith("stopped after 1 epoch (left paused for 2 s with no command); saved as run"), \
        job.message
    assert len(load_checkpoint(job.checkpoint).history) == 1


def test_paused_runs_lend_their_cpus_to_a_run_queued_behind_them(digits, tmp_path, quiet_cluster):
    """Ray lends the CPUs of a task whose main thread waits in ray.get, and a paused run's waits there: with both of
    the node's CPUs held by paused runs, a third run still starts and finishes, and a paused run goes on when it is
    resumed."""
    long = SMALL.replace(epochs=5000)
    paused = []
    try:
        for i in range(2):
            paused.append(start_runs(long, digits, tmp_path / f"p{i}", cpus=1).runs[0])
            paused[-1].pause()  # before its first step
        for run in paused:
            wait_until(lambda run=run: run.held, 60, "a run to be paused on its worker")
        third = start_runs(SMALL.replace(epochs=2), digits, tmp_path / "third", cpus=1).runs[0]
        wait_until(lambda: not third.active, 60, lambda: f"the run queued behind the paused ones to end: {third.state}")
        assert third.state == "done", third.message
        assert all(run.held and run.steps_done == 0 for run in paused)
        paused[0].resume()
        wait_until(lambda: paused[0].steps_done > 30, 60, "the resumed run to go on")
    finally:
        for run in paused:
            run.stop()
        for run in paused:
            run.join(timeout=60)


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process, from /proc."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_run_on_a_worker_pauses_without_cpu_steps_once_changes_beta_and_streams_its_snapshots(digits, tmp_path):
    """The whole loop of a live view on real Ray: snapshots with their pictures stream back while it trains; pause holds
    the worker (its CPU time stops growing) and the step count; one step is one batch; a beta change lands in the
    run's changes and the checkpoint's history; the checkpoint keeps its recording."""
    from vae_core.recording import load_recording

    config = SMALL.replace(epochs=200)  # 15 steps an epoch
    run = start_runs(config, digits, tmp_path / "live", live=True, record=8).runs[0]
    try:
        wait_until(lambda: run.snapshot is not None and run.steps_done > 30, 120, "snapshots and some steps")
        assert run.snapshot.mu.shape == (len(digits.test_x), 2) and run.snapshot.pictures.shape == (100, 8, 8)
        run.pause()
        assert not run.held  # told to pause: its worker has not said it waits
        wait_until(lambda: run.held, 30, "its worker to say it waits")  # with its steps counted before it
        held, cpu = run.steps_done, _cpu_seconds(run.worker.pid)
        time.sleep(1.5)
        assert run.steps_done == held and _cpu_seconds(run.worker.pid) - cpu < 0.1, "a paused worker trained on"
        run.step_once()
        assert not run.held
        wait_until(lambda: run.held, 30, "its worker to wait again")
        assert run.steps_done == held + 1  # exactly one more step
        time.sleep(1.0)
        assert run.steps_done == held + 1
        run.change(beta=2.5)
        # asked for, not yet applied by the paused worker: the live controls' field shows it (after a reload it
        # showed β = 1, as if the change were lost)
        from ui.live import in_force

        assert run.asked == {"beta": 2.5} and not run.changes and in_force(run, "beta") == 2.5
        run.resume()
        wait_until(lambda: run.changes and run.epoch >= run.changes[0]["epoch"] + 1, 60, "the change and an epoch")
        assert run.changes[0]["beta"] == 2.5 and run.changes[0]["step"] == held + 2
        run.stop()
        run.join(60)
    finally:
        run.stop()
        run.join(60)
    assert run.state == "stopped" and run.checkpoint is not None
    saved = load_checkpoint(run.checkpoint)
    changes = [c for r in saved.history for c in r.get("changes", [])]
    assert changes == [{"step": held + 2, "beta": 2.5, "beta_before": 1.0}] and saved.config.beta == 2.5  # it ends so
    assert beta_text(saved.config, saved.history) == f"β=1→2.5 (changed at step {held + 2:,})"  # as the sidebar says
    assert lr_text(saved.history) == ""
    recording = load_recording(run.checkpoint, 2, digits.image_shape)  # stopped early: kept up to the stop
    assert 2 <= len(recording.snapshots) <= 8 and recording.snapshots[-1].step <= run.steps_done
    with pytest.raises(Exception, match="beta must be a number >= 0"):
        run.change(beta=-1)


def test_commands_given_as_a_run_starts_are_carried_out_in_their_order(digits, tmp_path):
    """A page sets a run's speed the moment it starts it, before the run's thread has given Ray the task (or, in a
    fresh server, connected to Ray): those commands wait for the submission, then go in order."""
    run = start_runs(SMALL.replace(epochs=50), digits, tmp_path / "early", live=True).runs[0]
    run.speed(5)
    run.pause()
    try:
        wait_until(lambda: run.snapshot is not None, 120, "the initial weights' snapshot")
        time.sleep(1.5)
        assert run.steps_done == 0 and run.paused  # paused before its first step
        run.resume()
        wait_until(lambda: run.steps_done >= 3, 30, "steps at the set speed")
        time.sleep(1.0)
        assert run.steps_done <= 3 + 5 * 2.5  # no faster than 5 a second (with a flush's delay)
    finally:
        run.stop()
        run.join(60)


def test_a_run_asked_to_record_keeps_its_recording_in_its_checkpoint(digits, tmp_path):
    from vae_core.recording import load_recording

    run = start_runs(SMALL.replace(epochs=4), digits, tmp_path / "rec", record=10).runs[0]
    run.join(120)
    assert run.state == "done", run.message
    recording = load_recording(run.checkpoint, 2, digits.image_shape)
    steps = [s.step for s in recording.snapshots]
    assert steps[0] == 0 and steps[-1] == 60 and len(steps) >= 8


def test_runs_that_differ_only_in_beta_train_as_one_task_and_each_saves_what_it_would_alone(digits, tmp_path):
    """Three betas: one worker trains all three (batched.train_batched in one task); each run gets its own progress,
    history and checkpoint, and ends as the same program run here would."""
    from vae_core.batched import train_batched

    configs = {f"beta-{b:g}": SMALL.replace(epochs=3, beta=b, latent_dim=4) for b in (0.5, 1.0, 4.0)}
    group = start_runs(configs, digits, tmp_path / "sweep")
    assert all(run.batch is group.runs[0].batch is not None for run in group)
    group.join(180)
    assert [run.state for run in group] == ["done"] * 3, [run.message for run in group]
    assert len({run.worker.pid for run in group}) == 1 and all(len(run.history) == 3 for run in group)
    assert all(run.steps_done == 3 * run.steps_per_epoch and run.steps for run in group)
    here = train_batched(list(configs.values()), digits)
    for run, (_, history) in zip(group, here):
        saved = load_checkpoint(run.checkpoint)
        assert saved.config.beta == run.config.beta
        assert abs(saved.metrics["nelbo"] - history.test["nelbo"]) < 2e-3 * history.test["nelbo"]


def test_a_batch_takes_the_cpus_free_as_it_starts_and_half_the_node_beside_another_job(digits, tmp_path,
                                                                                        quiet_cluster):
    """On an idle two-core node the Beta sweep page's MNIST sweep trained on one thread (115 s), held to half the
    node, where two threads take its five members' epochs in half the time. A batch now asks for its budget as far
    as the free CPUs go, and half the node where fewer are free (asking for more, it waited for the whole node)."""
    configs = {f"beta-{b:g}": SMALL.replace(epochs=2, beta=b) for b in (0.5, 2.0)}  # a budget of 2: digits' 1 each
    alone = start_runs(configs, digits, tmp_path / "alone")
    alone.join(120)
    assert [run.state for run in alone] == ["done"] * 2 and alone.runs[0].worker.threads == 2
    other = start_runs(SMALL.replace(epochs=2000), digits, tmp_path / "other", cpus=1).runs[0]
    try:
        wait_until(lambda: other.state == "running", 120, "the other run to start")
        beside = start_runs(configs, digits, tmp_path / "beside")
        beside.join(120)
        assert [run.state for run in beside] == ["done"] * 2 and beside.runs[0].worker.threads == 1
        assert other.state == "running"  # the two shared the node, neither waiting for the other
    finally:
        other.stop()
        other.join(60)


def test_stopping_one_run_of_a_batch_stops_them_all_each_keeping_its_finished_epochs(digits, tmp_path):
    configs = {f"beta-{b:g}": SMALL.replace(epochs=2000, beta=b) for b in (0.5, 2.0)}
    group = start_runs(configs, digits, tmp_path / "stopped")
    try:
        wait_until(lambda: all(run.epoch >= 2 for run in group), 120, "two epochs each")
        group.runs[1].stop()
        group.join(60)
    finally:
        group.stop()
        group.join(60)
    assert [run.state for run in group] == ["stopped"] * 2
    assert all(load_checkpoint(run.checkpoint).history and "stopped after" in run.message for run in group)


def test_a_run_whose_beta_changed_says_it_is_saved_under_the_name_the_model_lists_show(digits, tmp_path):
    """Raised to β = 5 mid-run, a run's folder still says beta1: its message said "saved as ...-beta1-<random>"
    while the sidebar listed "...-beta1→5"."""
    from vae_core import VAE
    from vae_core.events import Trained
    from vae_core.runs import Run, RunState

    folder = new_run_dir(tmp_path, SMALL)
    config = SMALL.replace(beta=5.0)
    run = Run(config=SMALL, data=digits, folder=folder)
    run.state = RunState.RUNNING
    metrics = {"recon": 20.0, "kl": 3.0, "nelbo": 23.0, "kl_per_dim": [1.5, 1.5], "activity": [1.0, 1.0],
               "active_units": 2}
    run._save(Trained(config=config, tensors={k: v.numpy() for k, v in VAE(config).state_dict().items()},
                      history=[{"epoch": 1}], metrics=metrics, stopped=True))
    name, tag = folder.name.rsplit("-", 1)
    # with its tag, which tells apart a class's runs started in one second (each student read the same name)
    assert f"saved as {name}→5 #{tag[:4]} (test negative ELBO" in run.message and folder.name not in run.message, \
        run.message
