"""The trade-off lesson's numbers come from the objective and the evaluation, and behave as the notes say."""
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae_core import Config, evaluate, load_checkpoint
from vae_core.checkpoint import sweep_members
from vae_core.evaluation import encode_dataset
from vae_core.runs import start_runs
from vae_core.tradeoff import (aggregate_density, normal_density, objective_parts, reparameterization_draws,
                               sweep_configs)

ROOT = Path(__file__).resolve().parent.parent


def shipped_sweep(dataset):
    """The shipped sweep's checkpoints as the sweep page lists them, by increasing beta."""
    return [load_checkpoint(s.path) for s in sweep_members(ROOT / "models" / "sweeps" / dataset)]


def test_objective_parts_of_one_image(trained_digits, digits):
    model, _ = trained_digits
    x = digits.test_x[7]
    parts = objective_parts(model, x)
    mu, logvar = model.encode(x.reshape(1, -1))
    expected_kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0))[0]
    np.testing.assert_allclose(parts.kl_per_dim, expected_kl.detach().numpy(), rtol=1e-5)
    assert parts.total(1.0) == pytest.approx(parts.recon + parts.kl)
    assert parts.total(4.0) - parts.total(1.0) == pytest.approx(3 * parts.kl)
    np.testing.assert_allclose(parts.sigma, torch.exp(0.5 * logvar)[0].detach().numpy(), rtol=1e-6)


def test_objective_parts_average_to_the_evaluated_negative_elbo(trained_digits, digits):
    model, _ = trained_digits
    x = digits.test_x[:60]
    per_image = np.mean([objective_parts(model, xi, seed=i).total(1.0) for i, xi in enumerate(x)])
    assert per_image == pytest.approx(evaluate(model, x)["nelbo"], rel=0.02)


def test_the_plane_s_rate_and_distortion_are_the_evaluated_kl_and_reconstruction(digits):
    """The sweep page plots each checkpoint's saved kl (rate) and recon (distortion): evaluate() reproduces them."""
    for checkpoint in shipped_sweep("digits"):
        metrics = evaluate(checkpoint.model, digits.test_x, seed=checkpoint.config.seed)
        assert checkpoint.metrics["kl"] == pytest.approx(metrics["kl"], rel=1e-5, abs=1e-6)
        assert checkpoint.metrics["recon"] == pytest.approx(metrics["recon"], rel=1e-5)


@pytest.mark.parametrize("dataset", ["digits", "mnist"])
def test_shipped_sweep_trades_rate_for_distortion_as_beta_grows(dataset):
    sweep = shipped_sweep(dataset)
    assert [c.config.beta for c in sweep] == [0.1, 0.3, 1.0, 3.0, 10.0]
    rates = [c.metrics["kl"] for c in sweep]
    distortions = [c.metrics["recon"] for c in sweep]
    assert rates == sorted(rates, reverse=True) and distortions == sorted(distortions)
    assert sweep[-1].metrics["active_units"] < sweep[0].metrics["active_units"]  # collapse at high beta


def test_the_aggregate_posterior_is_the_exact_mixture_of_the_posteriors(trained_digits, digits):
    model, _ = trained_digits
    mu, std = (t.numpy() for t in encode_dataset(model, digits.test_x))
    grid = np.linspace(-4, 4, 41)
    density = aggregate_density(mu, std, grid)
    assert density.shape == (41, 41)
    step = grid[1] - grid[0]
    # Cell (row 7, column 30) around (z0, z1) = (2, -2.6): the mixture's mass there, per unit area
    low, high = torch.tensor([grid[30], grid[7]]) - step / 2, torch.tensor([grid[30], grid[7]]) + step / 2
    each = Normal(torch.from_numpy(mu).double(), torch.from_numpy(std).double())
    mass = (each.cdf(high.double()) - each.cdf(low.double())).prod(1).mean().item()
    assert density[7, 30] == pytest.approx(mass / step ** 2, rel=1e-9)
    mixture = each.log_prob(torch.tensor([grid[30], grid[7]]).double()).sum(1).exp().mean().item()
    assert density[7, 30] == pytest.approx(mixture, rel=0.1)  # digits' posteriors are wide: near the pointwise value
    assert density.sum() * step ** 2 == pytest.approx(1.0, abs=0.02)  # a density: it integrates to one
    marginal = aggregate_density(mu, std, grid, dims=(1,))
    np.testing.assert_allclose(marginal, density.sum(1) * step, atol=2e-3)  # the 1-D view is its marginal
    mean = np.array([(density.sum(0) * grid).sum(), (density.sum(1) * grid).sum()]) * step ** 2
    assert np.all(np.abs(mean) < 0.35)  # a beta=1 model's mixture sits near the prior's centre...
    assert np.abs(density - normal_density(grid)).sum() * step ** 2 < 0.6  # ...and overlaps most of N(0, I)


def test_posteriors_narrower_than_a_grid_cell_keep_their_mass():
    grid = np.linspace(-4, 4, 81)
    mu, std = np.array([[0.33, -1.27], [2.01, 0.5]]), np.full((2, 2), 0.004)  # between the grid's points
    density = aggregate_density(mu, std, grid)
    assert density.sum() * 0.1 ** 2 == pytest.approx(1.0, abs=1e-6)  # pointwise, this would be about zero
    assert density[np.searchsorted(grid, -1.27 - 0.05), np.searchsorted(grid, 0.33 - 0.05)] > 0


def test_reparameterization_draws(trained_digits, digits):
    model, _ = trained_digits
    draws = reparameterization_draws(model, digits.test_x[0], n=32)
    np.testing.assert_allclose(draws.z, draws.mu + draws.eps * draws.sigma, rtol=1e-6)
    assert draws.z.shape == (32, 2) and draws.eps.shape == (32, 2)
    assert not np.allclose(draws.z[0], draws.z[1])


def test_a_sweep_job_runs_each_beta_and_stops_as_a_whole(digits, tmp_path, ray_address):
    base = Config(dataset="digits", hidden=(32,), latent_dim=3, epochs=2, batch_size=100)
    configs = sweep_configs(base, [2.0, 0.5])
    assert list(configs) == ["beta-0.5", "beta-2"]  # by increasing beta, named as their folders
    sweep = start_runs(configs, digits, tmp_path)
    sweep.join(timeout=60)
    assert [j.state for j in sweep.runs] == ["done", "done"] and sweep.fraction == 1.0
    assert [s.config.beta for s in sweep_members(tmp_path)] == [0.5, 2.0]
    stopped = start_runs({name: c.replace(epochs=400) for name, c in configs.items()}, digits, tmp_path / "s")
    stopped.stop()
    stopped.join(timeout=60)
    assert [j.state for j in stopped.runs] == ["stopped", "stopped"] and not stopped.active
