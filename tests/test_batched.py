"""Runs trained as one program (vae_core/batched.py): each member ends as the model and history its own run gives,
within float rounding, whether the members differ in beta, warm-up, free bits, learning rate or seed; runs that
cannot be batched are refused."""
import pytest
import torch

from vae_core import Config, ConfigError, TrainingDiverged, train_new
from vae_core.batched import Member, batchable, train_batched
from vae_core.events import EpochEvent, StepEvent

BASE = Config(dataset="digits", hidden=(32,), latent_dim=3, epochs=3, batch_size=100, precision="fp32", seed=4)


@pytest.mark.parametrize("members", [
    [{"beta": 0.3}, {"beta": 1.0}, {"beta": 3.0}],                        # a sweep: one gather serves all
    [{}, {"warmup_epochs": 2.0}, {"free_bits": 0.4}],                      # the warm-up page's three runs
    [{"seed": 1, "lr": 2e-3}, {"seed": 2, "lr_decay": 0.5}],               # seeds apart: a batch each
    [{"beta": 0.5, "binarize": True, "ema": 0.99}, {"beta": 2.0, "binarize": True, "ema": 0.99}],
    [{"beta": 0.3, "precision": "bf16"}, {"beta": 3.0, "precision": "bf16", "lr": 3e-3}],  # bf16 products
])
def test_each_member_is_the_run_it_would_have_been(digits, members):
    configs = [BASE.replace(**changes) for changes in members]
    events = []
    results = train_batched(configs, digits, callback=events.append)
    for k, (config, (model, history)) in enumerate(zip(configs, results)):
        alone, alone_history = train_new(config, digits)
        for a, b in zip(alone_history.epochs, history.epochs):
            for key in ("train_loss", "test_nelbo", "test_kl"):
                assert b[key] == pytest.approx(a[key], rel=2e-3, abs=2e-3), (k, key)
            assert b["active_units"] == a["active_units"] and b["beta"] == a["beta"]
        for (name, a), b in zip(alone.state_dict().items(), model.state_dict().values()):
            torch.testing.assert_close(b, a, rtol=2e-3, atol=2e-3, msg=f"member {k}: {name}")
    steps = [e for e in events if isinstance(e.event, StepEvent)]
    assert {e.index for e in steps} == set(range(len(configs))) and len(steps) == len(configs) * 3 * 15
    assert sum(isinstance(e.event, EpochEvent) for e in events) == len(configs) * 3
    assert all(isinstance(e, Member) for e in events)


def test_runs_that_differ_in_what_they_share_are_refused(digits):
    assert not batchable([BASE, BASE.replace(hidden=(64,))]) and not batchable([BASE])
    assert not batchable([BASE.replace(arch="conv", dataset="mnist"), BASE.replace(arch="conv", dataset="mnist")])
    with pytest.raises(ConfigError, match="cannot train as one program"):
        train_batched([BASE, BASE.replace(epochs=4)], digits)


def test_a_stop_ends_every_member_with_its_finished_epochs(digits):
    class AfterEpoch:
        def __init__(self):
            self.epochs = 0

        def is_set(self):
            return self.epochs >= 2

    stop = AfterEpoch()
    results = train_batched([BASE.replace(epochs=20, beta=b) for b in (0.5, 2.0)], digits, stop=stop,
                            callback=lambda e: setattr(stop, "epochs", stop.epochs + isinstance(e.event, EpochEvent) / 2))
    for model, history in results:
        assert history.stopped and len(history.epochs) == 2


def test_the_cli_s_sweep_of_mlps_trains_them_as_one_program_here_without_ray(tmp_path, digits):
    """Each beta's checkpoint is the model its own train would give (the same flags' config, trained here), and no
    Ray was started or imported."""
    import os
    import subprocess
    import sys

    from conftest import ROOT
    from vae_core import load_checkpoint
    from vae_core.flags import config_from_flags

    flags = ["--dataset", "digits", "--hidden", "32", "--latent-dim", "3", "--epochs", "2", "--batch-size", "100",
             "--precision", "fp32", "--seed", "4"]
    probe = ("import sys; from vae_core.cli import main; code = main(sys.argv[1:]); "
             "print('ray imported' if 'ray' in sys.modules else 'no ray'); sys.exit(code)")
    env = {k: v for k, v in os.environ.items() if k != "VAE_RAY_ADDRESS"}
    result = subprocess.run([sys.executable, "-c", probe, "sweep", *flags, "--betas", "0.5,2", "--out",
                             str(tmp_path / "sweep")], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "as one program here" in result.stderr and "no ray" in result.stdout
    for beta in ("0.5", "2"):
        saved = load_checkpoint(tmp_path / "sweep" / f"beta-{beta}")
        _, alone = train_new(config_from_flags([*flags, "--beta", beta]), digits)
        assert saved.config.beta == float(beta)
        assert saved.metrics["nelbo"] == pytest.approx(alone.test["nelbo"], rel=2e-3)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_written_out_batched_step_is_the_autograd_one(digits, precision, monkeypatch):
    """On the CPU the members take the written-out step batched (mlp_step.MLPStep over stacked weights); elsewhere
    (a GPU) autograd through the stacked layers. One step of each from the same weights and draws: the same
    losses and the same updated weights, per member, with betas, free bits and rates that differ. In bf16 the
    layers next to the pixels multiply in bf16 and the narrow ones in float32, as in a wider model."""
    import math

    from vae_core import mlp_step
    from vae_core.batched import Stacked, _BatchedLoop, _MemberState
    from vae_core.model import VAE
    from vae_core.training import Adam

    configs = [BASE.replace(precision=precision, hidden=(24, 16), **changes)
               for changes in ({"beta": 0.5}, {"beta": 2.0, "free_bits": 0.3, "lr": 3e-3}, {"beta": 1.0})]

    def loop():
        members = [_MemberState(c, torch.Generator().manual_seed(c.seed), torch.Generator().manual_seed(c.seed + 1),
                                VAE(c)) for c in configs]
        stacked = Stacked([m.model for m in members])
        return _BatchedLoop(stacked, members, Adam(stacked.parameters(), lr=0.0), torch.device("cpu"), None)

    monkeypatch.setattr(mlp_step, "SMALL_PRODUCT", 1000)  # digits' 64x24 layers are 1,536 entries
    written, autograd = loop(), loop()
    assert written.written_out is not None
    dtypes = [w.dtype for w in written.written_out.weights]
    assert dtypes == ([torch.float32] * 5 if precision == "fp32" else [torch.bfloat16, *[torch.float32] * 3,
                                                                       torch.bfloat16])
    autograd.written_out = None  # the path a GPU takes
    x = digits.train_x[:64].expand(len(configs), -1, -1)
    betas, rates = [c.beta for c in configs], [c.lr for c in configs]
    losses = written._step(x, betas, rates)
    expected = autograd._step(x, betas, rates)
    tolerance = {"rel": 1e-5} if precision == "fp32" else {"rel": 2e-2}
    for (loss, recon, kl), (want_loss, want_recon, want_kl) in zip(losses, expected):
        assert math.isfinite(loss) and loss == pytest.approx(want_loss, **tolerance)
        assert recon == pytest.approx(want_recon, **tolerance) and kl == pytest.approx(want_kl, **tolerance)
    before = Stacked([VAE(c) for c in configs])
    limit = 1e-4 if precision == "fp32" else 3e-2  # relative: bf16 products round, a wrong term is off by itself
    for a, b, start in zip(written.stacked.parameters(), autograd.stacked.parameters(), before.parameters()):
        for k in range(len(configs)):
            assert a.grad[k].norm() > 0 and not torch.equal(a[k], start[k])  # every member learned
            error = ((a.grad[k] - b.grad[k]).norm() / b.grad[k].norm()).item()
            assert error < limit, (k, tuple(a.shape), error)


def test_a_member_whose_test_loss_is_not_finite_diverges_the_program(digits):
    from conftest import ONE_HUGE_STEP

    events = []
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch 1 in run 1 of 2: its test loss became nan"):
        train_batched([ONE_HUGE_STEP, ONE_HUGE_STEP.replace(beta=2.0)], digits, callback=events.append)
    assert not any(isinstance(event.event, EpochEvent) for event in events)
