"""Training on a CUDA GPU through the captured step (vae_core/cuda_step.py): the same training as the eager step,
within float tolerance, the NaN guard and a stop still working with the losses read every few dozen steps.
Skipped, with the reason, on a machine without CUDA (every path it replaces is tested on the CPU)."""
import threading

import pytest
import torch

from vae_core import Config, TrainingDiverged, VAE, train
from vae_core import cuda_step, training
from vae_core.data import Dataset

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
SMALL = Config(dataset="digits", hidden=(64,), latent_dim=4, epochs=3, batch_size=64, seed=2)


def run(data, config, graphed: bool, monkeypatch, **kwargs):
    monkeypatch.setattr(training, "graphed_supported", lambda model, device: graphed and device.type == "cuda")
    events = []
    model = VAE(config)
    history = train(model, data, config, device="cuda", callback=events.append, **kwargs)
    return model, history, events


@pytest.mark.parametrize("changes", [{}, {"binarize": True, "ema": 0.99, "warmup_epochs": 1.5, "lr_decay": 0.5},
                                     {"free_bits": 0.3, "precision": "fp32"}, {"compiled": True}])
def test_the_captured_step_trains_as_the_eager_one(digits, monkeypatch, changes):
    changes = dict(changes)
    if changes.pop("compiled", False):  # torch.compile's fusion too, which a run this short would not pay for
        monkeypatch.setattr(training, "COMPILE_FROM_STEPS", 0)
    config = SMALL.replace(**changes)
    _, eager, eager_events = run(digits, config, False, monkeypatch)
    _, graphed, graphed_events = run(digits, config, True, monkeypatch)
    steps = [e for e in graphed_events if isinstance(e, training.StepEvent)]
    assert [(e.epoch, e.step) for e in steps] == [(e.epoch, e.step) for e in eager_events
                                                  if isinstance(e, training.StepEvent)]  # every step reported
    for a, b in zip(eager.epochs, graphed.epochs):
        assert b["test_nelbo"] == pytest.approx(a["test_nelbo"], rel=0.03)
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.03)


def test_a_nan_stops_a_graphed_run_with_the_good_weights(digits, monkeypatch):
    poisoned = Dataset("digits", digits.train_x.clone(), digits.train_y, digits.test_x, digits.test_y,
                       digits.image_shape, digits.classes, "test")
    poisoned.train_x[100:] = float("nan")
    with pytest.raises(TrainingDiverged, match="diverged at epoch 1"):
        run(poisoned, SMALL, True, monkeypatch)


def test_a_graphed_run_stops_when_told(digits, monkeypatch):
    stop = threading.Event()
    config = SMALL.replace(epochs=50)

    def callback(event):
        if isinstance(event, training.EpochEvent) and event.epoch == 2:
            stop.set()

    monkeypatch.setattr(training, "graphed_supported", lambda model, device: True)
    history = train(VAE(config), digits, config, device="cuda", callback=callback, stop=stop)
    assert history.stopped and len(history.epochs) == 2
    assert cuda_step.supported(VAE(config), torch.device("cuda"))


@pytest.mark.parametrize("compiled", [False, True])
def test_members_on_the_card_are_the_runs_they_would_have_been(digits, monkeypatch, compiled):
    """K runs as one program take the captured step too (their stacked weights, a [K] beta and rate): each member
    ends as its own captured run on the card, within bf16's rounding."""
    from vae_core import batched
    from vae_core.batched import train_batched
    if compiled:
        monkeypatch.setattr(training, "COMPILE_FROM_STEPS", 0)
        monkeypatch.setattr(batched, "COMPILE_FROM_STEPS", 0)
    configs = [SMALL.replace(beta=0.3), SMALL.replace(beta=1.0, free_bits=0.2), SMALL.replace(beta=3.0, lr=3e-3)]
    members = train_batched(configs, digits, device="cuda")
    for config, (model, history) in zip(configs, members):
        alone = train(VAE(config), digits, config, device="cuda")
        for a, b in zip(alone.epochs, history.epochs, strict=True):
            assert b["test_nelbo"] == pytest.approx(a["test_nelbo"], rel=0.03)
            assert b["train_loss"] == pytest.approx(a["train_loss"], rel=0.03)
