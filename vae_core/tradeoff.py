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


def aggregate_posterior(mu, std, seed: int = 0) -> np.ndarray:
    """One draw z ~ q(z|x) per image from its posterior means and standard deviations ([N, D] each, as
    evaluation.encode_dataset gives them): samples of the aggregate posterior sum_x q(z|x) p(x)."""
    mu, std = torch.as_tensor(mu), torch.as_tensor(std)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed), dtype=mu.dtype)
    return (mu + eps * std).numpy()


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


def sweep_configs(base, betas) -> list:
    """One config per beta, otherwise identical: the points of a rate-distortion sweep."""
    return [base.replace(beta=float(b)) for b in betas]

