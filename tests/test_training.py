"""Training on the bundled digits: it learns, it is reproducible, it reports, it stops, it survives NaN."""
import copy
import threading
from pathlib import Path

import pytest
import torch

from conftest import ONE_HUGE_STEP, state_equal
from vae_core import VAE, Config, TrainingDiverged, evaluate, train, train_new
from vae_core.data import Dataset
from vae_core.training import EpochEvent, StepEvent, kl_weight, learning_rate


def test_training_on_digits_lowers_the_test_negative_elbo_by_a_wide_margin(digits, trained_digits):
    model, history = trained_digits
    untrained = evaluate(VAE(model.config), digits.test_x)["nelbo"]
    final = history.epochs[-1]["test_nelbo"]
    assert final < 0.7 * untrained, (untrained, final)
    assert history.epochs[-1]["test_nelbo"] < history.epochs[0]["test_nelbo"]
    assert len(history.epochs) == model.config.epochs
    assert history.test == evaluate(model, digits.test_x, seed=model.config.seed)  # of the weights returned


def test_same_seed_same_weights_other_seed_other_weights(digits):
    config = Config(dataset="digits", hidden=(32,), latent_dim=2, epochs=2, batch_size=100, seed=11)
    a, ha = train_new(config, digits)
    b, hb = train_new(config, digits)
    c, _ = train_new(config.replace(seed=12), digits)
    assert state_equal(a.state_dict(), b.state_dict())
    assert ha.epochs[-1]["test_nelbo"] == hb.epochs[-1]["test_nelbo"]
    assert not state_equal(a.state_dict(), c.state_dict())


def test_one_step_changes_every_weight(digits):
    config = Config(dataset="digits", hidden=(32,), latent_dim=2, epochs=1, batch_size=len(digits.train_x))
    model = VAE(config)
    before = copy.deepcopy(model.state_dict())
    train(model, digits)
    for key, value in model.state_dict().items():
        assert not torch.equal(value, before[key]), key


def test_callback_hears_every_step_and_epoch(digits):
    config = Config(dataset="digits", hidden=(16,), epochs=2, batch_size=500)
    events = []
    train_new(config, digits, callback=events.append)
    steps = [e for e in events if isinstance(e, StepEvent)]
    epochs = [e for e in events if isinstance(e, EpochEvent)]
    assert len(steps) == 2 * 3 and steps[0].steps_per_epoch == 3
    assert [e.epoch for e in epochs] == [1, 2] and epochs[-1].record["test_nelbo"] > 0
    assert {"train_recon", "train_kl", "test_recon", "test_kl", "active_units"} <= set(epochs[0].record)


def test_stop_flag_is_honoured_within_one_step(digits):
    stop = threading.Event()
    seen = []

    def callback(event):
        seen.append(event)
        if isinstance(event, StepEvent) and event.step == 3:
            stop.set()

    config = Config(dataset="digits", hidden=(16,), epochs=5, batch_size=32)
    model, history = train_new(config, digits, callback=callback, stop=stop)
    assert history.stopped and history.epochs == [] and history.test == {}
    assert len(seen) == 3
    assert state_equal(model.state_dict(), VAE(config).state_dict())  # no finished epoch: the initial weights


def test_a_stop_mid_epoch_keeps_the_weights_of_the_last_finished_epoch(digits):
    """Weights, history and test metrics then describe the same epochs (the app's message, progress and file)."""
    stop, after_first = threading.Event(), {}

    def callback(event):
        if isinstance(event, EpochEvent):
            after_first.update({k: v.clone() for k, v in model.state_dict().items()})
        elif event.epoch == 2 and event.step == 5:
            stop.set()

    config = Config(dataset="digits", hidden=(16,), epochs=5, batch_size=32)
    model = VAE(config)
    history = train(model, digits, config, callback=callback, stop=stop)
    assert history.stopped and len(history.epochs) == 1
    assert state_equal(model.state_dict(), after_first)
    assert history.test == evaluate(model, digits.test_x, seed=config.seed)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_weights(digits):
    data = Dataset(digits.name, digits.train_x.clone(), digits.train_y, digits.test_x, digits.test_y,
                   digits.image_shape, digits.classes, "test")
    model = VAE(Config(dataset="digits", hidden=(16,), epochs=3, batch_size=200))
    after_first_epoch = {}

    def poison(event):
        if isinstance(event, EpochEvent) and event.epoch == 1:
            after_first_epoch.update(copy.deepcopy(model.state_dict()))
            data.train_x[5] = float("nan")

    with pytest.raises(TrainingDiverged, match="diverged at epoch 2.*back at the weights of epoch 1") as err:
        train(model, data, callback=poison)
    assert state_equal(model.state_dict(), after_first_epoch)
    assert len(err.value.history.epochs) == 1


def test_huge_learning_rate_diverges_cleanly(digits):
    model = VAE(Config(dataset="digits", hidden=(64,), epochs=3, lr=1e12, likelihood="gaussian", obs_sigma=1e-3))
    with pytest.raises(TrainingDiverged, match="lower learning rate"):
        train(model, digits)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_kl_warmup_rises_linearly_to_beta():
    config = Config(beta=2.0, warmup_epochs=4)
    assert [kl_weight(config, e) for e in (0, 1, 2, 4, 7)] == [0.0, 0.5, 1.0, 2.0, 2.0]
    assert kl_weight(Config(beta=3.0), 0) == 3.0


def test_warmup_is_reported_and_free_bits_keep_units_active(digits):
    config = Config(dataset="digits", hidden=(64,), latent_dim=6, epochs=4, batch_size=64, beta=4.0)
    _, plain = train_new(config, digits)
    _, freebits = train_new(config.replace(free_bits=1.0, warmup_epochs=2), digits)
    assert [round(r["beta"], 3) for r in freebits.epochs] == [2.0, 4.0, 4.0, 4.0]
    assert freebits.epochs[-1]["active_units"] >= plain.epochs[-1]["active_units"]
    assert freebits.epochs[-1]["test_kl"] > plain.epochs[-1]["test_kl"]


@pytest.mark.parametrize("changes", [{"arch": "conv", "hidden": (64,)}, {"precision": "bf16"},
                                     {"binarize": True}, {"likelihood": "gaussian"}, {"latent_dim": 1},
                                     {"arch": "conv", "hidden": (32, 16), "latent_dim": 1}])
def test_variants_train(digits, changes):
    config = Config(**{"dataset": "digits", "latent_dim": 3, "epochs": 3, "batch_size": 64, **changes})
    model, history = train_new(config, digits)
    first, last = history.epochs[0], history.epochs[-1]
    assert last["test_nelbo"] < first["test_nelbo"] or last["train_loss"] < first["train_loss"]
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_dynamic_binarisation_draws_afresh_each_time_and_reproducibly_under_a_seed(digits):
    from vae_core.training import _Loop

    config = Config(dataset="digits", hidden=(16,), binarize=True, seed=11)
    x, rows = digits.train_x[:200], torch.arange(200)
    loop = _Loop(VAE(config), config, torch.device("cpu"), None)
    # the same images twice, as in two epochs (cloned: the loop reuses its batch buffers from step to step)
    first, second = loop.batch(x, rows).clone(), loop.batch(x, rows).clone()
    assert set(first.unique().tolist()) == {0.0, 1.0} and not torch.equal(first, second)
    assert abs(first.mean().item() - x.mean().item()) < 0.02  # the grey level is the probability of ink
    again = _Loop(VAE(config), config, torch.device("cpu"), None)
    assert torch.equal(again.batch(x, rows), first) and torch.equal(again.batch(x, rows), second)  # same seed, same draws
    grey = _Loop(VAE(config.replace(binarize=False)), config.replace(binarize=False), torch.device("cpu"), None)
    assert torch.equal(grey.batch(x, rows), x)


def test_a_binarised_model_is_scored_on_one_fixed_binarisation(digits):
    from vae_core.evaluation import TEST_BINARIZATION_SEED, test_pixels

    config = Config(dataset="digits", binarize=True)
    fixed = test_pixels(digits.test_x, config)
    assert torch.equal(fixed, test_pixels(digits.test_x, config.replace(seed=99)))  # whatever the model's seed
    assert torch.equal(fixed, torch.bernoulli(digits.test_x, generator=torch.Generator().manual_seed(TEST_BINARIZATION_SEED)))
    assert torch.equal(test_pixels(digits.test_x, config.replace(binarize=False)), digits.test_x)


@pytest.mark.parametrize("flags, precision", [("fpu sse avx512f avx512_bf16 amx_tile", "bf16"),
                                              ("fpu sse avx2 avx512f", "fp32"), ("fpu amx_bf16", "bf16")])
def test_auto_precision_follows_what_the_processor_reports(flags, precision):
    from vae_core.training import emulated_bf16, resolve_precision

    cpu = torch.device("cpu")
    assert Config().precision == "auto"
    assert resolve_precision(Config(), cpu, f"processor : 0\nflags : {flags}\n").precision == precision
    assert resolve_precision(Config(precision="fp32"), cpu, f"flags : {flags}").precision == "fp32"  # forced
    warned = emulated_bf16(Config(precision="bf16"), cpu, f"flags : {flags}")  # forced where it is emulated
    assert (warned is not None) == (precision == "fp32") and not emulated_bf16(Config(), cpu, f"flags : {flags}")


def test_training_records_what_auto_chose_for_this_machine(digits):
    cpuinfo = Path("/proc/cpuinfo").read_text().split()
    native = "avx512_bf16" in cpuinfo or "amx_bf16" in cpuinfo
    model, _ = train_new(Config(dataset="digits", hidden=(16,), epochs=1), digits)
    assert model.config.precision == ("bf16" if native else "fp32")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_both_precisions_are_reproducible_under_a_seed_and_guarded_against_nan(digits, precision):
    config = Config(dataset="digits", hidden=(32,), epochs=2, precision=precision, seed=5)
    (a, _), (b, _) = train_new(config, digits), train_new(config, digits)
    assert state_equal(a.state_dict(), b.state_dict())
    with pytest.raises(TrainingDiverged, match="diverged"):
        train_new(config.replace(lr=1e6, epochs=3), digits)


def test_the_learning_rate_is_flat_then_lands_on_a_cosine_at_a_hundredth():
    config = Config(epochs=100, lr=1e-3, lr_decay=0.4)
    rates = [learning_rate(config, e / 10) for e in range(0, 1001)]
    assert rates[:601] == [1e-3] * 601                                  # the first 60 epochs are flat
    assert all(a >= b for a, b in zip(rates, rates[1:])) and rates[800] < 1e-3
    assert rates[-1] == pytest.approx(1e-5)
    assert {learning_rate(config.replace(lr_decay=0), e) for e in range(100)} == {1e-3}


def test_the_weight_average_is_what_is_evaluated_and_saved_and_does_not_steer_training(digits):
    """With ema the raw weights train exactly as without it (same train losses), while the model returned, the
    test metrics and a stop's fallback are the average's."""
    config = Config(dataset="digits", hidden=(32,), latent_dim=2, epochs=3, batch_size=64, seed=4)
    raw_model, raw = train_new(config, digits)
    averaged_model, averaged = train_new(config.replace(ema=0.99), digits)
    assert [e["train_loss"] for e in averaged.epochs] == [e["train_loss"] for e in raw.epochs]
    assert averaged.epochs[-1]["test_nelbo"] != raw.epochs[-1]["test_nelbo"]
    assert averaged.test == evaluate(averaged_model, digits.test_x, seed=config.seed)
    assert not state_equal(averaged_model.state_dict(), raw_model.state_dict())

    stop, kept = threading.Event(), {}

    def callback(event):
        if isinstance(event, EpochEvent):
            kept.update({k: v.clone() for k, v in model.state_dict().items()})
        elif event.epoch == 2 and event.step == 4:
            stop.set()

    model = VAE(config.replace(ema=0.99))
    history = train(model, digits, callback=callback, stop=stop)
    assert history.stopped and state_equal(model.state_dict(), kept)
    assert history.test == evaluate(model, digits.test_x, seed=config.seed)


def test_our_adam_is_torch_optims_fused_adam_bit_for_bit():
    from vae_core.training import Adam

    generator = torch.Generator().manual_seed(0)
    shapes = [(30, 20), (30,), (5, 30)]
    ours = [torch.randn(s, generator=generator).requires_grad_() for s in shapes]
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    initial = [p.detach().clone() for p in ours]
    adam, reference = Adam(ours, lr=1e-2), torch.optim.Adam(theirs, lr=1e-2, fused=True)
    for step in range(6):
        for a, b in zip(ours, theirs):
            a.grad = torch.randn(a.shape, generator=generator)
            b.grad = a.grad.clone()
        adam.lr = reference.param_groups[0]["lr"] = 1e-2 / (1 + step)  # the loop changes the rate between steps
        adam.step()
        reference.step()
    for a, b, start in zip(ours, theirs, initial):
        assert torch.equal(a, b) and not torch.equal(a.detach(), start)


def test_adam_in_plain_operations_is_the_fused_kernel_within_rounding():
    """cuda_step.py compiles Adam.step_in_ops instead of calling the fused kernel: the same update."""
    from vae_core.training import Adam

    generator = torch.Generator().manual_seed(0)
    weights = [torch.randn(40, 30, generator=generator), torch.randn(30, generator=generator)]
    copies, initial = [w.clone() for w in weights], weights[0].clone()
    fused, ops = Adam(weights, lr=1e-2), Adam(copies, lr=torch.tensor(1e-2))
    for _ in range(25):
        grads = [torch.randn(w.shape, generator=generator) for w in weights]
        for w, c, g in zip(weights, copies, grads):
            w.grad, c.grad = g.clone(), g.clone()
        fused.step()
        ops.step_in_ops()
    for w, c in zip(weights, copies):
        torch.testing.assert_close(c, w, rtol=1e-5, atol=1e-6)
    assert (weights[0] - initial).abs().max() > 0.05  # 25 steps of 1e-2 moved the weights


def test_a_test_loss_that_is_not_finite_is_a_divergence_back_at_the_last_finished_epoch(digits):
    """(A walk-through's run failed saving "history[0].test_nelbo (nan) is not a finite number".)"""
    model = VAE(ONE_HUGE_STEP)
    initial = copy.deepcopy(model.state_dict())
    events = []
    with pytest.raises(TrainingDiverged, match=r"diverged at epoch 1: its test loss became nan; the model is back "
                                               r"at its initial weights. Try a lower learning rate \(now 1\)") as e:
        train(model, digits, ONE_HUGE_STEP, callback=events.append)
    assert e.value.history.epochs == [] and e.value.history.test == {}
    assert state_equal(model.state_dict(), initial)
    assert not any(isinstance(event, EpochEvent) for event in events)  # no epoch reported with it
