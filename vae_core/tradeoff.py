"""Numbers for the KL-versus-reconstruction lesson: one image's objective, rate and distortion, the aggregate
posterior, and the reparameterisation trick, all from the objective's own functions."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .objective import kl_per_dim, recon_nll

RECON_SAMPLES = 64  # z draws that estimate E_q[-log p(x|z)] for one image


@dataclass
class ObjectiveParts:
    """The negative ELBO of one image, term by term, in nats."""
    recon: float             # E_q(z|x)[-log p(x|z)], estimated with RECON_SAMPLES draws
    kl_per_dim: list[float]  # closed-form KL of each latent dimension
    mu: list[float]
    sigma: list[float]

    @property
    def kl(self) -> float:
        return float(sum(self.kl_per_dim))

    def total(self, beta: float) -> float:
        """recon + beta * KL: the loss a beta-VAE minimises for this image."""
        return self.recon + beta * self.kl


@torch.no_grad()
def objective_parts(model, x: torch.Tensor, seed: int = 0) -> ObjectiveParts:
    """The terms of the objective for one flattened image x."""
    model.eval()
    config = model.config
    x = x.reshape(1, -1)
    mu, logvar = model.encode(x)
    generator = torch.Generator().manual_seed(seed)
    z = model.reparameterize(mu.repeat(RECON_SAMPLES, 1), logvar.repeat(RECON_SAMPLES, 1), generator)
    recon = recon_nll(model.decode(z), x.repeat(RECON_SAMPLES, 1), config.likelihood, config.obs_sigma).mean()
    return ObjectiveParts(recon=recon.item(), kl_per_dim=kl_per_dim(mu, logvar)[0].tolist(),
                          mu=mu[0].tolist(), sigma=torch.exp(0.5 * logvar)[0].tolist())


def aggregate_density(mu, std, grid, dims=(0, 1)) -> np.ndarray:
    """The aggregate posterior sum_x q(z|x) p(x) over the test set: the mixture of the images' Gaussians (means mu,
    deviations std, [N, D] each), marginalised onto dims, on grid x grid ([n, n], rows over dims[1], columns over
    dims[0]); with one dimension in dims, over grid ([n]). Each value is the mixture's mean density over the grid
    cell around its point (its exact mass there over the cell's area), so that posteriors narrower than a cell
    (mnist-2d's are a few hundredths wide) keep their mass instead of falling between the points."""
    grid = np.asarray(grid, np.float64)
    step = grid[1] - grid[0]
    edges = torch.from_numpy(np.append(grid - step / 2, grid[-1] + step / 2))
    mu = torch.from_numpy(np.asarray(mu, np.float64)[:, list(dims)])
    std = torch.from_numpy(np.asarray(std, np.float64)[:, list(dims)])
    # Each image's Gaussian per dimension, its mass in each cell over the cell's width: [N, len(dims), n]
    cdf = torch.special.ndtr((edges[None, None, :] - mu[:, :, None]) / std[:, :, None])
    per_dim = ((cdf[..., 1:] - cdf[..., :-1]) / step).numpy()
    if len(dims) == 1:
        return per_dim[:, 0].mean(0)
    return np.einsum("nj,ni->ji", per_dim[:, 1], per_dim[:, 0]) / len(mu)  # the mixture of products


def normal_density(grid, dims: int = 2) -> np.ndarray:
    """N(0, I) on grid ([n] for one dimension, [n, n] for two): the prior the aggregate posterior should match."""
    grid = np.asarray(grid, np.float64)
    one = np.exp(-0.5 * grid ** 2) / np.sqrt(2 * np.pi)
    return one if dims == 1 else np.outer(one, one)


@dataclass
class ReparameterizationDraws:
    mu: np.ndarray      # [D]
    sigma: np.ndarray   # [D]
    eps: np.ndarray     # [n, D] the draws from N(0, I): the only randomness
    z: np.ndarray       # [n, D] = mu + eps * sigma


@torch.no_grad()
def reparameterization_draws(model, x: torch.Tensor, n: int = 64, seed: int = 0) -> ReparameterizationDraws:
    """z = mu + eps * sigma for n draws of eps, for one flattened image x."""
    model.eval()
    mu, logvar = model.encode(x.reshape(1, -1))
    sigma = torch.exp(0.5 * logvar)
    eps = torch.randn(n, mu.shape[1], generator=torch.Generator().manual_seed(seed))
    z = mu + eps * sigma
    return ReparameterizationDraws(mu[0].numpy(), sigma[0].numpy(), eps.numpy(), z.numpy())


def sweep_configs(base, betas) -> dict:
    """The runs of a rate-distortion sweep: one config per beta, otherwise identical, named beta-<beta> (the
    folder each is saved in), by increasing beta."""
    return {f"beta-{float(b):g}": base.replace(beta=float(b)) for b in sorted(betas)}


def remedy_configs(base, warmup_epochs: float, free_bits: float) -> dict:
    """The runs of the warm-up and free-bits comparison: base as it is, with a linear KL warm-up over warmup_epochs,
    and with free bits of free_bits nats per dimension; named plain, warmup and freebits (their folders)."""
    return {"plain": base, "warmup": base.replace(warmup_epochs=warmup_epochs),
            "freebits": base.replace(free_bits=free_bits)}

