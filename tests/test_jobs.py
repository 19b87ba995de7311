"""Training jobs on a real Ray node (the session's: every test here asks for conftest's ray_address): they train
on a worker with their own CPU budget, report progress while they run, stop whether queued or running, survive a
killed worker, and bring the checkpoint back into the job's folder."""
import os
import signal

import pytest

from vae_core import Config, load_checkpoint
from vae_core.checkpoint import new_run_dir
from vae_core.data import Dataset
from vae_core.runs import start_runs
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
    import ray

    from vae_core import cluster
    from vae_core.events import Stop
    from vae_core.workers import RunControl

    cluster.connect()
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


def test_a_queued_job_waits_says_how_many_are_ahead_and_can_be_stopped(digits, tmp_path, quiet_cluster):
    long = SMALL.replace(epochs=5000)
    running = [start_runs(long, digits, tmp_path / f"r{i}", cpus=1).runs[0] for i in range(2)]  # fills 2 CPUs
    waiting = []
    try:
        wait_until(lambda: all(j.state == "running" for j in running), what="two running jobs")
        for i in range(2):  # one after the other, so that Ray gets them in this order
            waiting.append(start_runs(long, digits, tmp_path / f"q{i}", cpus=1).runs[0])
            wait_until(lambda: waiting[-1].state == "queued", what="a queued job")
        assert [j.ahead for j in waiting] == [0, 1]
        waiting[0].stop()
        waiting[0].join(timeout=30)
        assert waiting[0].state == "stopped" and "before it started" in waiting[0].message
        assert not waiting[0].worker and not (tmp_path / "q0").exists()  # never ran, nothing left
        assert waiting[1].ahead == 0
        running[0].stop()
        wait_until(lambda: waiting[1].state == "running", what="the next job to start")
    finally:
        for job in running + waiting:
            job.stop()
        for job in running + waiting:
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
    assert job.state == "failed" and "diverged at epoch 1" in job.message and "nothing saved" in job.message
    assert job.checkpoint is None and not (tmp_path / "run").exists()
