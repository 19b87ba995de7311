"""The step a CUDA GPU takes (vae_core/cuda_step.py), run here uncaptured: the same code builds the batch and the
draws, runs the step through autograd and Adam in tensor operations, logs the losses on the device and reads them a
few dozen steps later, for one run and for K runs trained as one program. Each ends as the run the CPU's own step
gives, within float rounding; the NaN guard and a stop still work with the losses read late. The capture itself
is tested where CUDA exists (tests/test_cuda.py)."""
import pytest
import torch

from vae_core import Config, TrainingDiverged, train_new
from vae_core import batched, cuda_step, training
from vae_core.batched import train_batched
from vae_core.data import Dataset
from vae_core.events import EpochEvent, StepEvent

BASE = Config(dataset="digits", hidden=(32,), latent_dim=3, epochs=3, batch_size=100, precision="fp32", seed=4)


@pytest.fixture
def graphed(monkeypatch):
    """graphed(): from then on every full batch goes through the GPU's step, its losses read every 4 steps; returns
    the list of the reads made."""
    reads = []

    def read(step, original=cuda_step.GraphedStep.read):
        if step.tags:
            reads.append(len(step.tags))
        return original(step)

    def through_the_gpu_s_step():
        monkeypatch.setattr(cuda_step.GraphedStep, "read", read)
        for module in (training, batched):
            monkeypatch.setattr(module, "graphed_supported", lambda model, device: True)
            monkeypatch.setattr(module, "FLUSH_STEPS", 4)
        return reads
    return through_the_gpu_s_step


def assert_same_run(a, b, label):
    for ea, eb in zip(a.epochs, b.epochs, strict=True):
        for key in ("train_loss", "test_nelbo", "test_kl"):
            # abs: a collapsed KL of 0.1 nat differs by a few thousandths
            assert eb[key] == pytest.approx(ea[key], rel=2e-3, abs=5e-3), (label, key)
        assert eb["beta"] == ea["beta"]


@pytest.mark.parametrize("changes", [{}, {"binarize": True, "ema": 0.99, "warmup_epochs": 1.5, "free_bits": 0.3}])
def test_one_run_through_the_gpu_s_step_is_the_cpu_s_run(digits, graphed, changes):
    config = BASE.replace(**changes)
    _, alone = train_new(config, digits)
    reads, events = graphed(), []
    _, history = train_new(config, digits, callback=events.append)
    assert 4 in reads  # the step's losses were read four at a time
    assert_same_run(alone, history, "one run")
    steps = [(e.epoch, e.step) for e in events if isinstance(e, StepEvent)]
    per_epoch = -(-len(digits.train_x) // config.batch_size)
    assert steps == [(epoch, step) for epoch in (1, 2, 3) for step in range(1, per_epoch + 1)]  # all, in order


@pytest.mark.parametrize("members", [
    [{"beta": 0.3}, {"beta": 1.0, "free_bits": 0.4}, {"beta": 3.0, "lr": 3e-3}],          # one gather serves all
    [{"seed": 1, "binarize": True, "ema": 0.99, "warmup_epochs": 2.0},
     {"seed": 2, "binarize": True, "ema": 0.99, "lr_decay": 0.5}],                        # a batch each, drawn
])
def test_members_through_the_gpu_s_step_are_the_runs_they_would_have_been(digits, graphed, members):
    configs = [BASE.replace(**changes) for changes in members]
    alone = [train_new(config, digits)[1] for config in configs]
    reads, events = graphed(), []
    results = train_batched(configs, digits, callback=events.append)
    assert 4 in reads
    for k, (_, history) in enumerate(results):
        assert_same_run(alone[k], history, f"member {k}")
    per_epoch = -(-len(digits.train_x) // BASE.batch_size)
    for k in range(len(configs)):
        steps = [(e.event.epoch, e.event.step) for e in events if e.index == k and isinstance(e.event, StepEvent)]
        assert steps == [(epoch, step) for epoch in (1, 2, 3) for step in range(1, per_epoch + 1)]


def test_a_nan_read_late_still_stops_the_members_with_their_last_epoch(digits, graphed):
    poisoned = Dataset("digits", digits.train_x.clone(), digits.train_y, digits.test_x, digits.test_y,
                       digits.image_shape, digits.classes, "test")
    poisoned.train_x[:] = float("nan")
    graphed()
    with pytest.raises(TrainingDiverged, match="diverged at epoch 1, step 1 in run 1 of 2"):
        train_batched([BASE.replace(beta=b) for b in (0.5, 2.0)], poisoned)


def test_a_stop_reports_the_steps_taken_before_it(digits, graphed):
    class AfterSteps:
        def __init__(self):
            self.steps = 0

        def is_set(self):
            return self.steps >= 2 * 6  # two members, six steps each: half-way between two reads

    stop, events, reads = AfterSteps(), [], graphed()

    def callback(event):
        events.append(event)
        stop.steps += isinstance(event.event, StepEvent)

    results = train_batched([BASE.replace(beta=b, epochs=5) for b in (0.5, 2.0)], digits, stop=stop,
                            callback=callback)
    assert all(history.stopped and not history.epochs for _, history in results)
    assert not any(isinstance(e.event, EpochEvent) for e in events)
    assert reads == [4, 4] and [e.event.step for e in events if e.index == 0] == list(range(1, 9))
