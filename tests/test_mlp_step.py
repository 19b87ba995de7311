"""The written-out training step of MLP models (vae_core.mlp_step) against autograd on objective.negative_elbo."""
import pytest
import torch

from vae_core import Config
from vae_core.mlp_step import MLPStep, supported
from vae_core.model import VAE
from vae_core.objective import negative_elbo
from vae_core.training import _Loop

VARIANTS = {
    "the classic objective": {},
    "two hidden layers": {"hidden": (48, 24)},
    "a Gaussian likelihood": {"likelihood": "gaussian", "obs_sigma": 0.3},
    "free bits": {"free_bits": 0.05},
    "pixel-mean reconstruction": {"recon_reduction": "mean"},
    "free bits with a pixel-mean Gaussian": {"free_bits": 0.05, "recon_reduction": "mean", "likelihood": "gaussian"},
}


def _config(**changes) -> Config:
    return Config(**{"dataset": "mnist", "hidden": (40,), "latent_dim": 6, "precision": "fp32", **changes})


def _autograd(model: VAE, x: torch.Tensor, beta: float, seed: int):
    model.zero_grad(set_to_none=True)
    config = model.config
    x_logits, mu, logvar, _ = model(x, torch.Generator().manual_seed(seed))
    terms = negative_elbo(x, x_logits, mu, logvar, beta, config.free_bits, config.likelihood, config.obs_sigma,
                          config.recon_reduction)
    terms.loss.backward()
    return terms, {name: p.grad.clone() for name, p in model.named_parameters()}


def _written_out(model: VAE, config: Config, x: torch.Tensor, beta: float, seed: int):
    step = MLPStep(model, config)
    terms = step.forward(x, beta, torch.Generator().manual_seed(seed))
    step.backward()
    return terms, {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.fixture(scope="module")
def images():
    # grey levels with some pixels at exactly 0 and 1, as in MNIST
    return torch.rand(96, 784, generator=torch.Generator().manual_seed(5)).sub_(0.2).clamp_(0, 1)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_written_out_gradient_is_autograds_in_float32(variant, images):
    config = _config(**VARIANTS[variant])
    model = VAE(config)
    with torch.no_grad():  # a model a few steps in: some KL dimensions above the free-bits floor, some below
        model.mu_head.weight.mul_(torch.linspace(0.2, 20, config.latent_dim).unsqueeze(1))
    expected_terms, expected = _autograd(model, images, beta=0.7, seed=3)
    terms, grads = _written_out(model, config, images, beta=0.7, seed=3)
    torch.testing.assert_close(terms.loss, expected_terms.loss.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(terms.recon, expected_terms.recon.detach(), rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(terms.kl_per_dim, expected_terms.kl_per_dim.detach(), rtol=1e-5, atol=1e-6)
    for name, grad in expected.items():
        assert grad.abs().max() > 0, name
        torch.testing.assert_close(grads[name], grad, rtol=1e-4, atol=1e-6, msg=f"{variant}: {name}")
    if config.free_bits > 0:  # both sides of the floor were exercised
        kl_means = expected_terms.kl_per_dim.mean(0)
        assert (kl_means < config.free_bits).any() and (kl_means > config.free_bits).any()


def test_in_bf16_the_gradient_differs_from_float32_by_rounding_only(images):
    """bf16 matrix products: each parameter's gradient within 3% (relative norm) of float32 autograd's, with the
    same eps; a wrong term would be off by its whole size."""
    config = _config(hidden=(64, 32))
    model = VAE(config)
    _, expected = _autograd(model, images, beta=1.0, seed=4)
    _, grads = _written_out(model, config.replace(precision="bf16"), images, beta=1.0, seed=4)
    for name, grad in expected.items():
        error = ((grads[name] - grad).norm() / grad.norm()).item()
        assert error < 0.03, f"{name}: {error:.3f}"


def test_under_bf16_only_the_wide_layers_multiply_in_bf16():
    """A bf16 product costs about as much however small it is; the narrow layers' float32 products cost less and
    round less (mlp_step.SMALL_PRODUCT)."""
    config = _config(hidden=(64, 32), precision="bf16")  # weights 64x784, 32x64, 12x32 (heads), 32x6, 64x32, 784x64
    step = MLPStep(VAE(config), config)
    bf16, fp32 = torch.bfloat16, torch.float32
    assert [w.dtype for w in step.weights] == [bf16, fp32, fp32, fp32, bf16] and step.head_weight.dtype == fp32
    wide = _config(hidden=(400,), latent_dim=64, precision="bf16")  # heads 128x400, decoder's first 400x64
    step = MLPStep(VAE(wide), wide)
    assert [w.dtype for w in step.weights] == [bf16, bf16, bf16] and step.head_weight.dtype == bf16
    wide = wide.replace(precision="fp32")
    assert all(w.dtype == fp32 for w in MLPStep(VAE(wide), wide).weights)


def test_the_loop_takes_the_written_out_step_for_mlps_on_the_cpu_and_autograd_otherwise(digits):
    mlp = Config(dataset="digits", hidden=(16,), epochs=1)
    conv = Config(dataset="digits", arch="conv", channels=(4, 8), hidden=(16,), epochs=1)
    assert supported(VAE(mlp), torch.device("cpu")) and not supported(VAE(conv), torch.device("cpu"))
    assert _Loop(VAE(mlp), mlp, torch.device("cpu"), None).written_out is not None
    assert _Loop(VAE(conv), conv, torch.device("cpu"), None).written_out is None


def test_a_training_run_through_the_written_out_step_matches_autograds(digits, monkeypatch):
    """Two epochs of digits (the last batch of each smaller than the rest) in float32: the same weights either way."""
    from vae_core import training

    config = Config(dataset="digits", hidden=(32,), latent_dim=3, epochs=2, batch_size=100, precision="fp32",
                    binarize=True, warmup_epochs=1, seed=2)
    assert len(digits.train_x) % config.batch_size != 0
    written, _ = training.train_new(config, digits)
    monkeypatch.setattr(training, "supported", lambda model, device: False)
    autograd, _ = training.train_new(config, digits)
    for (name, a), b in zip(written.state_dict().items(), autograd.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5, msg=name)
