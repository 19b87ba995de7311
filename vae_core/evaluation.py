"""Evaluation (negative ELBO, per-dimension KL, active units, IWAE) and latent utilities (encode, decode, grids, paths)."""
from __future__ import annotations

import math

import numpy as np
import torch

from .config import Config
from .data import binarize
from .errors import ConfigError
from .objective import iwae_log_likelihood, negative_elbo

EVAL_BATCH = 1000
ACTIVE_THRESHOLD = 0.01  # Burda et al. 2016: a unit is active if Cov_x(E_q[z_u]) > 0.01
TEST_BINARIZATION_SEED = 2016  # the one fixed binarisation every binarised model is scored on


def _batches(x: torch.Tensor, size: int = EVAL_BATCH):
    for i in range(0, len(x), size):
        yield x[i:i + size]


def test_pixels(x: torch.Tensor, config: Config) -> torch.Tensor:
    """The test images a model is scored on: a binarised model on one fixed binarisation of them, drawn from
    TEST_BINARIZATION_SEED (the same for every model, as in the literature), others on the grey levels."""
    if not config.binarize:
        return x
    return binarize(x, torch.Generator(device=x.device).manual_seed(TEST_BINARIZATION_SEED))


def scored_on(config: Config) -> str:
    """What a model's test nats are nats of, in words: its test pixels (dataset, how many, binarised or grey) and
    its likelihood. Models described differently have nats that do not compare: a nat of 64 grey digits pixels
    is not a nat of 784 binarised MNIST pixels."""
    likelihood = "Bernoulli" if config.likelihood == "bernoulli" else f"Gaussian σ = {config.obs_sigma:g}"
    pixels = "binarised" if config.binarize else "grey"
    return f"{config.dataset}, {config.input_dim} {pixels} pixels, {likelihood} likelihood"


@torch.no_grad()
def evaluate(model, x: torch.Tensor, config: Config | None = None, seed: int = 0) -> dict:
    """Test metrics in nats per image: nelbo = recon + kl (one z sample per image), per-dim KL, active units."""
    config = config or model.config
    device = next(model.parameters()).device
    recon = kl = 0.0
    kl_dims = torch.zeros(config.latent_dim, device=device)
    mus = []
    for terms, mu in _elbo_batches(model, test_pixels(x.to(device), config), config, seed):
        recon += terms.recon.sum().item()
        kl += terms.kl.sum().item()
        kl_dims += terms.kl_per_dim.sum(0)
        mus.append(mu)
    n = len(x)
    activity = unit_activity(torch.cat(mus))
    return {
        "nelbo": (recon + kl) / n, "recon": recon / n, "kl": kl / n,
        "kl_per_dim": (kl_dims / n).tolist(),
        "activity": activity.tolist(),
        "active_units": int((activity > ACTIVE_THRESHOLD).sum()),
        "n": n,
    }


def _elbo_batches(model, pixels: torch.Tensor, config: Config, seed: int):
    """(negative_elbo's terms, mu) of each batch of test pixels, with one z per image drawn from a generator seeded
    with seed: evaluate's draws, so that an image's ELBO here is the one its metrics average."""
    was_training = model.training
    model.eval()
    generator = torch.Generator(device=pixels.device).manual_seed(seed)
    try:
        for xb in _batches(pixels):
            x_logits, mu, logvar, _ = model(xb, generator)
            yield negative_elbo(xb, x_logits, mu, logvar, likelihood=config.likelihood,
                                obs_sigma=config.obs_sigma), mu
    finally:
        model.train(was_training)


def kl_decimals(beta: float) -> int:
    """The decimals a KL is shown to beside beta: two, and one more for each power of ten in a beta above 1, so that
    beta times its rounding stays within the total's last decimal (16.54 + 10 × 3.26 = 49.14 was shown beside a
    table whose KLs make 49.17)."""
    return 2 + (math.ceil(math.log10(beta)) if beta > 1 else 0)


def shown_kl(kl: float, beta: float = 1.0) -> str:
    """A KL as it is written beside beta, to kl_decimals(beta)."""
    return f"{kl:.{kl_decimals(beta)}f}"


def shown_total(recon: float, kl: float, beta: float = 1.0) -> float:
    """recon + beta * KL as a reader adds up the terms shown (the reconstruction to two decimals, the KL to
    kl_decimals(beta)): each term is rounded before it is summed, so that a total never differs from the sum of
    the numbers beside it (273.33 shown against terms that add up to 273.32). Everything that shows a model's
    negative ELBO shows this one (the sidebar, a run's message, the CLI), so that one model never shows two."""
    return round(recon, 2) + beta * round(kl, kl_decimals(beta))


def unit_activity(mu: torch.Tensor) -> torch.Tensor:
    """Variance over the data of each dimension's posterior mean; near zero means a collapsed unit."""
    return mu.var(0, unbiased=False) if len(mu) > 1 else torch.zeros(mu.shape[1], device=mu.device)


@torch.no_grad()
def iwae_estimate(model, x: torch.Tensor, k: int = 100, seed: int = 0, config: Config | None = None,
                  progress=None) -> dict:
    """The test negative log-likelihood, -log p(x) estimated with k importance samples per image (the IWAE
    bound; the papers' protocol uses k = 5000), in nats per image: its mean over the images and the standard
    error of that mean; and elbo_gap, how far evaluate's negative ELBO (drawn with the same seed) lies above it,
    with elbo_gap_se, the standard error of that gap over the same images. seed seeds the samples; the
    binarisation of a binarised model's test set is fixed. progress(n) hears how many more images are done,
    batch by batch."""
    config = config or model.config
    was_training = model.training
    device = next(model.parameters()).device
    x = test_pixels(x.to(device), config)
    log_px = iwae_log_likelihood(model, x, k, torch.Generator(device=device).manual_seed(seed), config.likelihood,
                                 config.obs_sigma, progress=progress)
    with torch.no_grad():
        nelbo = torch.cat([(terms.recon + terms.kl) for terms, _ in _elbo_batches(model, x, config, seed)])
    model.train(was_training)
    # The gap to the negative ELBO (evaluate's, same seed) image by image: paired, so the images' own spread in
    # -log p(x), which is most of iwae_nll_se, cancels out of its standard error.
    gap = nelbo.double() + log_px.double()
    result = {"iwae_nll": -log_px.mean().item(), "iwae_nll_se": log_px.std().item() / math.sqrt(len(x)),
              "iwae_k": k, "iwae_n": len(x),
              "elbo_gap": gap.mean().item(), "elbo_gap_se": gap.std().item() / math.sqrt(len(x))}
    if config.binarize:
        result["test_binarization_seed"] = TEST_BINARIZATION_SEED
    return result


@torch.no_grad()
def encode_dataset(model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and standard deviations of every image, on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    mus, stds = [], []
    for xb in _batches(x.to(device)):
        mu, logvar = model.encode(xb)
        mus.append(mu.cpu())
        stds.append(torch.exp(0.5 * logvar).cpu())
    return torch.cat(mus), torch.cat(stds)


@torch.no_grad()
def decode_images(model, z: torch.Tensor) -> torch.Tensor:
    """Bernoulli means (pixel intensities in [0, 1]) of a batch of latents, shaped [B, H, W]."""
    model.eval()
    device = next(model.parameters()).device
    _, height, width = model.config.image_shape
    z = torch.as_tensor(z, dtype=torch.float32, device=device).reshape(-1, model.config.latent_dim)
    return torch.sigmoid(model.decode(z)).reshape(-1, height, width).cpu()


@torch.no_grad()
def reconstruct(model, x: torch.Tensor) -> torch.Tensor:
    """Decoded posterior means of flattened images: the model's deterministic reconstructions, [B, H, W]."""
    model.eval()
    mu, _ = model.encode(x.to(next(model.parameters()).device))
    return decode_images(model, mu)


def prior_latents(latent_dim: int, n: int, seed: int = 0) -> torch.Tensor:
    """n draws z ~ N(0, I) from a generator seeded with seed: [n, D]."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


def prior_point(latent_dim: int, seed: int | None = None) -> list[float]:
    """One z ~ N(0, I); seed None draws fresh entropy from the OS (never the global generator)."""
    return np.random.default_rng(seed).standard_normal(latent_dim).tolist()


def reconstruction_rows(model, x: torch.Tensor, per_row: int = 8, padding: int = 1) -> torch.Tensor:
    """Flattened images in rows of per_row, each row followed by a row of their reconstructions: one [H, W] grid.
    Fewer images than per_row make one row of their own number (not the originals and the reconstructions on one)."""
    per_row = max(1, min(per_row, len(x)))
    originals, recons = as_images(x, model.config.image_shape), reconstruct(model, x).to(x.device)
    rows = [part for i in range(0, len(x), per_row) for part in (originals[i:i + per_row], recons[i:i + per_row])]
    return image_grid(torch.cat(rows), nrow=per_row, padding=padding)


def as_images(x: torch.Tensor, image_shape) -> torch.Tensor:
    """Flattened pixel rows back to [B, H, W]."""
    _, height, width = image_shape
    return x.reshape(-1, height, width)


def gaussian_grid_values(n: int, coverage: float = 0.9) -> torch.Tensor:
    """n latent values spaced evenly in probability under N(0, 1): the inverse CDF of a uniform grid."""
    tail = (1 - coverage) / 2
    return torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(tail, 1 - tail, n))


def manifold_latents(latent_dim: int, n: int = 15, dims: tuple[int, int] = (0, 1), base=None,
                     coverage: float = 0.9) -> torch.Tensor:
    """The latents of the decoded manifold: an n x n grid over two dimensions spaced by the Gaussian inverse
    CDF, row by row as image_grid tiles them ([n * n, D]).

    Rows go from high to low values of dims[1] (so up is positive), columns from low to high dims[0], as on
    a scatter with dims[0] across; the other dimensions are held at base (zero by default).
    """
    values = gaussian_grid_values(n, coverage)
    z = torch.zeros(n, n, latent_dim) if base is None else _vector(base).reshape(1, 1, -1).repeat(n, n, 1)
    z[:, :, dims[0]] = values.reshape(1, n)
    if latent_dim > 1:
        z[:, :, dims[1]] = values.flip(0).reshape(n, 1)
    return z.reshape(n * n, latent_dim)


def pca_plane(mu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(centre [D], two principal directions [2, D]) of posterior means: the plane a PCA map shows."""
    mu = torch.as_tensor(mu, dtype=torch.float64)
    centre = mu.mean(0)
    _, _, vh = torch.linalg.svd(mu - centre, full_matrices=False)
    return centre.float(), vh[:2].float()


def posterior_on_plane(mu, sigma, centre=None, axes=None) -> tuple[np.ndarray, np.ndarray]:
    """A diagonal Gaussian posterior (mu, sigma [D]) as seen on a map's plane: its centre [2] and covariance
    [2, 2] in the plane's coordinates, a = axes[0] . (z - centre), b = axes[1] . (z - centre). Without a
    plane, a 2-D latent's own axes."""
    mu, sigma = np.asarray(mu, np.float64).reshape(-1), np.asarray(sigma, np.float64).reshape(-1)
    centre = np.zeros_like(mu) if centre is None else np.asarray(centre, np.float64)
    axes = np.eye(2, len(mu)) if axes is None else np.asarray(axes, np.float64)
    return axes @ (mu - centre), axes @ np.diag(sigma ** 2) @ axes.T


def plane_latents(centre: torch.Tensor, axes: torch.Tensor, extent: tuple[float, float, float, float],
                  n: int = 15) -> torch.Tensor:
    """z = centre + a axes[0] + b axes[1] over an n x n grid of (a, b) in extent = (a0, a1, b0, b1), row by row
    as image_grid tiles them, laid out like the map: a grows to the right, b upward ([n * n, D])."""
    a = torch.linspace(extent[0], extent[1], n)
    b = torch.linspace(extent[3], extent[2], n)  # top row first: the highest b
    z = centre + a.reshape(1, n, 1) * axes[0] + b.reshape(n, 1, 1) * axes[1]
    return z.reshape(n * n, -1)


def image_grid(images: torch.Tensor, nrow: int, padding: int = 1) -> torch.Tensor:
    """Tile [B, 1, H, W] or [B, H, W] images into one [H', W'] image, nrow to a row, `padding` white pixels
    between and around them (torchvision's make_grid, written out: importing torchvision costs a second)."""
    if images.dim() == 4:
        images = images[:, 0]
    count, height, width = images.shape
    cols = min(nrow, count)
    rows = math.ceil(count / cols)
    grid = images.new_full((rows * (height + padding) + padding, cols * (width + padding) + padding), 1.0)
    for i, image in enumerate(images):
        top, left = padding + (i // cols) * (height + padding), padding + (i % cols) * (width + padding)
        grid[top:top + height, left:left + width] = image
    return grid


def _vector(z) -> torch.Tensor:
    """A latent point given as a list, an array or a tensor, as a float32 tensor [D]."""
    return torch.as_tensor(np.asarray(z, dtype=np.float32)).reshape(-1)


def lerp(z0, z1, steps: int) -> torch.Tensor:
    """Points on the straight line from z0 to z1, ends included: [steps, D]."""
    z0, z1 = _vector(z0), _vector(z1)
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    return (1 - t) * z0.reshape(1, -1) + t * z1.reshape(1, -1)


def paths_apart(z0, z1, steps: int) -> tuple[float, float]:
    """(the angle between z0 and z1 seen from the origin, in degrees; the largest distance between the straight and
    the spherical path's points at the same position): ends that point the same way have paths that coincide."""
    a, b = _vector(z0), _vector(z1)
    cosine = torch.dot(a, b) / (a.norm() * b.norm()) if min(a.norm(), b.norm()) > 1e-8 else torch.tensor(1.0)
    gap = (lerp(a, b, steps) - slerp(a, b, steps)).norm(dim=1).max()
    return math.degrees(math.acos(float(cosine.clamp(-1, 1)))), float(gap)


def distance(z0, z1) -> float:
    """|z1 - z0|: how far apart two latent points are."""
    return float((_vector(z1) - _vector(z0)).norm())


def path_lengths(z0, z1) -> tuple[float, float, float]:
    """(|z0|, |z1|, the length of the straight path's middle)."""
    a, b = _vector(z0), _vector(z1)
    return float(a.norm()), float(b.norm()), float(((a + b) / 2).norm())


def slerp(z0, z1, steps: int) -> torch.Tensor:
    """Spherical interpolation (Shoemake; White 2016 for latent spaces), ends included: [steps, D].

    The direction turns along the great circle while the length goes linearly from |z0| to |z1|, so no
    point is shorter than both ends (a straight line's middle is, where N(0, I) in many dimensions has
    little mass) nor longer than both (Shoemake's formula on vectors of unequal length overshoots).
    """
    z0, z1 = _vector(z0), _vector(z1)
    n0, n1 = z0.norm(), z1.norm()
    if min(n0, n1) < 1e-8:
        return lerp(z0, z1, steps)  # from the origin every direction is the same
    u0, u1 = z0 / n0, z1 / n1
    omega = torch.arccos(torch.dot(u0, u1).clamp(-1, 1))
    if omega.abs() < 1e-6 or math.isclose(omega.item(), math.pi, abs_tol=1e-6):
        return lerp(z0, z1, steps)  # parallel or opposite: the great circle is undefined
    t = torch.linspace(0, 1, steps).unsqueeze(1)
    direction = (torch.sin((1 - t) * omega) * u0 + torch.sin(t * omega) * u1) / torch.sin(omega)
    return direction * ((1 - t) * n0 + t * n1)


def pixel_blend(a: torch.Tensor, b: torch.Tensor, steps: int) -> torch.Tensor:
    """Cross-fades from image a to image b in pixel space, ends included: [steps, *a.shape]."""
    t = torch.linspace(0, 1, steps).reshape(-1, *([1] * a.dim()))
    return (1 - t) * a + t * b


TRAVERSAL_VALUES = tuple(torch.linspace(-3, 3, 9).tolist())  # what a traversal sweeps a dimension over


def traversal(z, dim: int, values=TRAVERSAL_VALUES) -> torch.Tensor:
    """Copies of z with dimension dim swept over values: [len(values), D]."""
    values = torch.as_tensor(values, dtype=torch.float32)
    path = _vector(z).reshape(1, -1).repeat(len(values), 1)
    path[:, dim] = values
    return path


def nearest(mu: np.ndarray, z, k: int = 8) -> np.ndarray:
    """Indices of the k posterior means in mu [N, D] nearest to z (Euclidean), nearest first."""
    distances = np.linalg.norm(np.asarray(mu) - np.asarray(z, dtype=np.float32).reshape(1, -1), axis=1)
    return np.argsort(distances, kind="stable")[:k]


def dimensions_by_kl(metrics: dict, latent_dim: int) -> list[int]:
    """Latent dimensions ordered from most to least informative by their test KL (index order if unknown)."""
    kl = metrics.get("kl_per_dim")
    if not kl or len(kl) != latent_dim:
        return list(range(latent_dim))
    return sorted(range(latent_dim), key=lambda i: -kl[i])


def project_2d(mu: torch.Tensor, method: str = "pca", seed: int = 0) -> np.ndarray:
    """A 2-D view of posterior means: the means themselves for D <= 2, else PCA or t-SNE."""
    mu = torch.as_tensor(mu).detach().cpu().double()
    if mu.shape[1] <= 2:
        return torch.cat([mu, torch.zeros(len(mu), 2 - mu.shape[1], dtype=mu.dtype)], 1).numpy()
    if method == "pca":
        centre, axes = pca_plane(mu)
        return ((mu.float() - centre) @ axes.T).numpy()
    if method == "tsne":
        from sklearn.manifold import TSNE
        return TSNE(n_components=2, random_state=seed, init="pca").fit_transform(mu.numpy())
    raise ConfigError(f"unknown projection {method!r}; use pca or tsne")
