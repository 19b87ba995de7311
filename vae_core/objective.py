"""The objective: reconstruction NLL, closed-form KL per dimension, how they combine into the loss (beta, free bits,
pixel averaging) and each one's weight in its gradient, the negative ELBO, and IWAE.

Everything is in nats, summed over pixels and latent dimensions; batch averages are taken last.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2 * math.pi)


class _BernoulliNLL(torch.autograd.Function):
    """-log Bernoulli(x; sigmoid(l)) per pixel = max(l, 0) - x*l + log(1 + exp(-|l|)).

    The same value as F.binary_cross_entropy_with_logits, stable for any logit, but about three
    times faster on the CPU (its log1p is not vectorised) and with the one-line gradient
    d/dl = sigmoid(l) - x.
    """

    @staticmethod
    def forward(ctx, x_logits, x):
        ctx.save_for_backward(x_logits, x)
        return (x_logits.clamp_min(0) - x * x_logits + torch.log(1 + torch.exp(-x_logits.abs()))).sum(-1)

    @staticmethod
    def backward(ctx, grad):
        x_logits, x = ctx.saved_tensors
        grad_logits = (torch.sigmoid(x_logits) - x) * grad.unsqueeze(-1)
        return grad_logits, None


def bernoulli_nll(x_logits: torch.Tensor, x: torch.Tensor, mean: torch.Tensor | None = None,
                  work: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Summed binary cross-entropy per image, from logits: -log p(x|z) for the Bernoulli decoder, the sum over
    pixels of softplus(l) - x l.

    x_logits [B, P] against the images x [B, P] gives [B]; [m, B, P], m samples per image, gives [m, B]. The fast
    forms for callers without autograd: IWAE's takes the sum of x l as one batched product, x never copied m times;
    the written-out step's takes softplus from the mean sigmoid(x_logits) it has already, in work's buffers.
    """
    if x.requires_grad:  # the fast forms have no gradient for the targets
        return F.binary_cross_entropy_with_logits(x_logits, x, reduction="none").sum(-1)
    if mean is not None:
        return _nll_from_mean(x_logits, x, mean, work)
    if x_logits.dim() == x.dim():
        return _BernoulliNLL.apply(x_logits.float(), x)
    # one element-wise pass instead of six: half the time of IWAE with k = 5000
    return F.softplus(x_logits).sum(-1) - torch.einsum("...bp,bp->...b", x_logits, x)


def _nll_from_mean(x_logits, x, mean, work) -> torch.Tensor:
    """sum over pixels of softplus(l) - x l, with softplus(l) = max(l, 0) - log max(s, 1 - s) for the mean
    s = sigmoid(l): one log on the mean, where softplus and log1p are not vectorised on the CPU, and the x l term
    subtracted in the same buffer before the one sum (a batched dot product per image took 4 to 6 times as long).
    In buffers kept by the caller, as a fresh [B, P] block is cold in the cache."""
    log_max, terms = work or (torch.empty_like(mean), torch.empty_like(mean))
    torch.sub(mean, 0.5, out=log_max).abs_().add_(0.5).log_()
    return torch.clamp_min(x_logits, 0, out=terms).sub_(log_max).addcmul_(x, x_logits, value=-1).sum(-1)


def gaussian_nll(x_logits: torch.Tensor, x: torch.Tensor, obs_sigma: float, mean: torch.Tensor | None = None,
                 work: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
    """-log N(x; sigmoid(x_logits), obs_sigma^2 I) per image = 1/2 sum ((x - mean) / sigma)^2 + P log(sigma sqrt(2 pi)).

    x_logits [B, P] or [m, B, P] (m samples per image, x broadcast); mean = sigmoid(x_logits) where the caller has
    it; the residual is computed in work[0] where given.
    """
    if mean is None:
        mean = torch.sigmoid(x_logits.float())
    residual = torch.sub(x, mean, out=work[0] if work else None).div_(obs_sigma)
    return 0.5 * residual.pow(2).sum(-1) + x.shape[-1] * (math.log(obs_sigma) + 0.5 * LOG_2PI)


def recon_nll(x_logits, x, likelihood: str = "bernoulli", obs_sigma: float = 0.1, mean: torch.Tensor | None = None,
              work: tuple[torch.Tensor, ...] | None = None) -> torch.Tensor:
    """The reconstruction term -log p(x|z), one value per image ([m, B] for [m, B, P] logits: m samples per image).

    The written-out training step passes the decoder's mean sigmoid(x_logits), which it has already, and two
    buffers like x_logits to compute in (see mlp_step's docstring for why).
    """
    if likelihood == "bernoulli":
        return bernoulli_nll(x_logits, x, mean, work)
    return gaussian_nll(x_logits, x, obs_sigma, mean, work)


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) per dimension = 1/2 (mu^2 + sigma^2 - log sigma^2 - 1) (Kingma & Welling, App. B)."""
    mu, logvar = mu.float(), logvar.float()
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1)


@dataclass
class Terms:
    """The parts of the objective for one batch, and how combine() weighed them into the loss."""
    loss: torch.Tensor        # scalar to minimise: mean recon + beta * (free-bits clamped) KL
    recon: torch.Tensor       # [B] reconstruction NLL per image
    kl: torch.Tensor          # [B] KL per image, summed over dimensions
    kl_per_dim: torch.Tensor  # [B, D]
    beta: float | torch.Tensor       # the KL's weight (runs trained as one program: one per run, [K])
    free_bits: float | torch.Tensor  # nats: a dimension's batch-mean KL below this is held at it, and costs a
                                     # constant (one per run, [K], where they differ)
    recon_divisor: int        # the pixels the reconstruction is averaged over with recon_reduction "mean", else 1

    @property
    def nelbo(self) -> torch.Tensor:
        """[B] negative ELBO per image (beta = 1, no free bits): an upper bound on -log p(x)."""
        return self.recon + self.kl

    @property
    def recon_weight(self) -> float:
        """d loss / d recon[b]: the batch mean's 1 / B, and 1 / pixels with recon_reduction "mean"."""
        return 1.0 / self.recon.shape[-1] / self.recon_divisor

    @property
    def kl_weight(self) -> torch.Tensor | float:
        """d loss / d kl_per_dim[b, i]: beta / B, and 0 for each dimension free bits hold at the floor ([D]; [K, 1]
        or [K, D] for K runs as one program)."""
        weight = self.beta / self.recon.shape[-1]
        if torch.is_tensor(weight):
            weight = weight.unsqueeze(-1)  # each run's weight over its dimensions
        if torch.is_tensor(self.free_bits):  # clamp_min passes the gradient where its input is at or above the floor
            floor = self.free_bits.unsqueeze(-1)
            weight = weight * ((self.kl_per_dim.mean(-2) >= floor) | (floor <= 0)).float()
        elif self.free_bits > 0:
            weight = weight * (self.kl_per_dim.mean(-2) >= self.free_bits).float()
        return weight


def combine(recon: torch.Tensor, kld: torch.Tensor, beta: float = 1.0, free_bits: float = 0.0,
            recon_reduction: str = "sum", pixels: int = 1) -> Terms:
    """Loss = E[recon] + beta * KL, averaged over the batch, from the per-image recon [B] and the KL per dimension
    kld [B, D].

    With free bits lambda, each dimension's batch-mean KL below lambda nats is not penalised
    (Kingma et al. 2016, IAF paper, eq. 15): sum_i max(lambda, E_x[KL_i]).
    recon_reduction "mean" averages the reconstruction over the images' pixels instead of summing it, as much VAE
    code does by mistake (pixels: of one image): the same as weighting the KL by beta times the number of pixels.
    Terms stay in nats per image.
    K runs trained as one program pass recon [K, B] and kld [K, B, D], beta (and free_bits where they differ) as
    [K] tensors: the loss is then [K], each run's own.
    """
    kl = kld.sum(-1)
    if torch.is_tensor(free_bits):
        kl_term = kld.mean(-2).clamp_min(free_bits.unsqueeze(-1)).sum(-1)
    elif free_bits > 0:
        kl_term = kld.mean(-2).clamp_min(free_bits).sum(-1)
    else:
        kl_term = kl.mean(-1)
    divisor = pixels if recon_reduction == "mean" else 1
    return Terms(loss=recon.mean(-1) / divisor + beta * kl_term, recon=recon, kl=kl, kl_per_dim=kld, beta=beta,
                 free_bits=free_bits, recon_divisor=divisor)


def negative_elbo(x, x_logits, mu, logvar, beta: float = 1.0, free_bits: float = 0.0,
                  likelihood: str = "bernoulli", obs_sigma: float = 0.1, recon_reduction: str = "sum") -> Terms:
    """The objective of a batch of images x [B, P] from the decoder's logits and the posteriors' mu and logvar
    (combine); or of K runs' batches x [K, B, P], with beta a [K] tensor."""
    return combine(recon_nll(x_logits, x, likelihood, obs_sigma), kl_per_dim(mu, logvar), beta, free_bits,
                   recon_reduction, x.shape[-1])


@torch.no_grad()
def iwae_log_likelihood(model, x: torch.Tensor, k: int, generator: torch.Generator | None = None,
                        likelihood: str = "bernoulli", obs_sigma: float = 0.1, rows: int = 4096,
                        progress=None) -> torch.Tensor:
    """Importance-weighted estimate of log p(x) per image with k samples z_j ~ q(z|x) (Burda et al. 2016):

        log p(x) >= log 1/k sum_j p(x|z_j) p(z_j) / q(z_j|x);  with k = 1 it is the sampled ELBO.

    Batched over images and samples, about `rows` decodes per call of the decoder, so k in the thousands
    over a whole test set stays fast; the k log-weights of the images in a batch are kept, [k, B] floats.
    progress(n), if given, hears after each batch how many more images are done.
    """
    model.eval()
    images = max(1, min(len(x), rows // k))  # images per batch; the samples are then chunked to fit rows
    chunk = max(1, rows // images)
    out = []
    for xb in x.split(images):
        mu, logvar = model.encode(xb)
        sigma = torch.exp(0.5 * logvar)
        log_w = []
        for start in range(0, k, chunk):
            m = min(chunk, k - start)
            eps = torch.randn((m, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu + eps * sigma                                                        # [m, B, D]
            logits = model.decode(z.reshape(m * len(xb), -1)).reshape(m, len(xb), -1)   # [m, B, P]
            log_px_z = -recon_nll(logits, xb, likelihood, obs_sigma)
            log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
            log_qz = -0.5 * (eps.pow(2) + logvar + LOG_2PI).sum(-1)                    # (z - mu) / sigma = eps
            log_w.append(log_px_z + log_pz - log_qz)
        out.append(torch.logsumexp(torch.cat(log_w), 0) - math.log(k))
        if progress is not None:
            progress(len(xb))
    return torch.cat(out)

