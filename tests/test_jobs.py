"""Background training jobs: they finish and save, stop when asked, and report divergence without saving."""
import time

from vae_core import Config, load_checkpoint
from vae_core.data import Dataset
from vae_core.jobs import TrainingJob


def test_a_job_trains_in_the_background_and_saves(digits, tmp_path):
    job = TrainingJob(Config(dataset="digits", hidden=(32,), epochs=3, batch_size=100), digits, tmp_path / "run")
    job.start()
    job.join(timeout=60)
    assert job.state == "done" and "finished 3 epochs; saved" in job.message
    assert job.fraction == 1.0 and len(job.history) == 3 and job.steps
    assert job.preview.shape == (2 * 9 + 1, 8 * 9 + 1)  # 8 originals over their reconstructions, 1-pixel gaps
    assert load_checkpoint(job.checkpoint).history == job.history


def test_stop_ends_the_job_within_a_step_and_keeps_finished_epochs(digits, tmp_path):
    job = TrainingJob(Config(dataset="digits", hidden=(32,), epochs=500, batch_size=32), digits, tmp_path / "run")
    job.start()
    deadline = time.time() + 30
    while job.epoch < 1 and time.time() < deadline:
        time.sleep(0.05)
    job.stop()
    job.join(timeout=30)
    assert job.state == "stopped" and job.message.startswith("stopped after")
    assert 1 <= len(job.history) < 500 and job.checkpoint.exists()


def test_a_diverging_job_fails_with_a_message_and_saves_nothing(digits, tmp_path):
    poisoned = Dataset("digits", digits.train_x.clone(), digits.train_y, digits.test_x, digits.test_y,
                       digits.image_shape, digits.classes, "test")
    poisoned.train_x[0] = float("nan")
    job = TrainingJob(Config(dataset="digits", hidden=(16,), epochs=2, batch_size=len(poisoned.train_x)), poisoned,
                      tmp_path / "run")
    job.start()
    job.join(timeout=30)
    assert job.state == "failed" and "diverged at epoch 1" in job.message
    assert job.checkpoint is None and not (tmp_path / "run").exists()
