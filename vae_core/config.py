"""The one hyperparameter record: what a model is, how it is trained, serialised as JSON beside the weights."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field

from .datasets import DATASETS
from .errors import ConfigError

ARCHS = ("mlp", "conv")
LIKELIHOODS = ("bernoulli", "gaussian")
PRECISIONS = ("auto", "fp32", "bf16")
REDUCTIONS = ("sum", "mean")
# Upper bounds a value read from a file or a flag must respect before anything is built from it: the seed is a
# torch generator's (a 64-bit signed integer), the others far beyond any sensible run (sizes: MAX_PARAMETERS)
LARGEST = {"seed": 2**63 - 1, "epochs": 1_000_000, "batch_size": 1_000_000, "hidden": 32, "channels": 8,
           "latent_dim": 512}  # (pages keep N x latent_dim arrays of a test set's codes: 20,000 latent
                               # dimensions, in an upload of 1 KB, took a server to 18 GB)
# Models above this many weights are refused before anything is allocated: 50 M float32 weights are 200 MB,
# and training holds about four copies (weights, gradients, two Adam moments).
MAX_PARAMETERS = 50_000_000
# Nor a model above this many multiply-adds to encode and decode one image: scoring a 10,000-image test set is then
# at most 2 TFLOP, seconds on two cores. (Convolutions reuse their weights at every position, so a conv model under
# MAX_PARAMETERS can cost far more: 800 channels, an 81 KB upload of zeros, held two CPUs for 4.5 minutes.)
MAX_MULTIPLY_ADDS = 100_000_000


@dataclass(frozen=True)
class Config:
    dataset: str = "digits"          # a name in vae_core.data.DATASETS
    arch: str = "mlp"                # "mlp" (the notes' Dense layers) or "conv"
    hidden: tuple[int, ...] = (400,)  # widths of the hidden Dense layers, input side first
    channels: tuple[int, ...] = (32, 64)  # conv arch: widths of the stride-2 convolutions, input side first
    latent_dim: int = 2              # size of z
    likelihood: str = "bernoulli"    # p(x|z): "bernoulli" (summed BCE) or "gaussian" (fixed obs_sigma)
    obs_sigma: float = 0.1           # standard deviation of the Gaussian likelihood, in pixel units
    beta: float = 1.0                # weight of the KL term (beta-VAE); 1 is the plain ELBO
    recon_reduction: str = "sum"     # "sum" over pixels (the ELBO); "mean" over pixels: the common mistake, beta x pixels
    warmup_epochs: float = 0.0       # KL weight rises linearly from 0 to beta over this many epochs
    free_bits: float = 0.0           # nats per latent dimension below which KL is not penalised
    binarize: bool = False           # resample binary pixels each batch (dynamic binarisation)
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3                 # Adam learning rate
    lr_decay: float = 0.0            # over this last fraction of the epochs the rate falls along a cosine to lr/100
    ema: float = 0.0                 # per-step decay of an average of the weights, which is what is evaluated
                                     # and saved (0: none; 0.9995 averages over about the last 2,000 steps)
    seed: int = 0                    # seeds initial weights, batch order and the eps draws
    precision: str = "auto"          # matrix products: "bf16" (weights, optimiser, loss stay fp32), "fp32", or "auto":
                                     # bf16 where the processor runs it natively; training records its choice
    image_shape: tuple[int, int, int] = field(init=False)  # (channels, height, width), from the dataset

    def __post_init__(self):
        for name in ("hidden", "channels"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not all(_is_int(h) for h in value):
                raise ConfigError(f"{name} sizes must be a list of integers, got {_excerpt(value)}")
            object.__setattr__(self, name, tuple(int(h) for h in value))
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {_excerpt(self.dataset)}; choose one of {', '.join(DATASETS)}")
        _one_of("arch", self.arch, ARCHS)
        _one_of("likelihood", self.likelihood, LIKELIHOODS)
        _one_of("precision", self.precision, PRECISIONS)
        _one_of("recon_reduction", self.recon_reduction, REDUCTIONS)
        for name in ("hidden", "channels"):
            if not getattr(self, name) or any(h < 1 for h in getattr(self, name)):
                raise ConfigError(f"{name} sizes must be one or more positive integers, got "
                                  f"{_excerpt(list(getattr(self, name)))}")
            # (a width of 10**4000 in a config file made the refusal's count of weights 5,000 digits long)
            if any(h > MAX_PARAMETERS for h in getattr(self, name)):
                raise ConfigError(f"{name} sizes must be at most {MAX_PARAMETERS:,} each, got "
                                  f"{_excerpt(list(getattr(self, name)))}")
        for name in ("latent_dim", "epochs", "batch_size", "seed"):
            if not _is_int(getattr(self, name)):
                raise ConfigError(f"{name} must be an integer, got {_excerpt(getattr(self, name))}")
        for name, most in LARGEST.items():
            value = getattr(self, name)
            if (len(value) if isinstance(value, tuple) else value) > most:
                raise ConfigError(f"{name} must be at most {most:,}{' entries' if isinstance(value, tuple) else ''}, "
                                  f"got {_excerpt(value)}")
        _at_least("latent_dim", self.latent_dim, 1)
        _at_least("epochs", self.epochs, 1)
        _at_least("batch_size", self.batch_size, 1)
        _at_least("seed", self.seed, 0)
        _at_least("beta", self.beta, 0)
        _at_least("warmup_epochs", self.warmup_epochs, 0)
        _at_least("free_bits", self.free_bits, 0)
        if not isinstance(self.binarize, bool):
            raise ConfigError(f"binarize must be true or false, got {_excerpt(self.binarize)}")
        _at_least("lr", self.lr, 0, strict=True)
        _at_least("lr_decay", self.lr_decay, 0)
        _at_least("ema", self.ema, 0)
        if self.lr_decay > 1:
            raise ConfigError(f"lr_decay is a fraction of the epochs, from 0 to 1, got {_excerpt(self.lr_decay)}")
        if self.ema >= 1:
            raise ConfigError(f"ema is a decay per step, below 1 (0.9995 is typical), got {_excerpt(self.ema)}")
        _at_least("obs_sigma", self.obs_sigma, 0, strict=True)
        object.__setattr__(self, "image_shape", DATASETS[self.dataset].image_shape)
        side = 2 ** len(self.channels)  # each stride-2 convolution halves the image side
        if self.arch == "conv" and any(s % side for s in self.image_shape[1:]):
            raise ConfigError(f"{len(self.channels)} stride-2 convolutions need image sides divisible by {side}, "
                              f"got {self.image_shape[1:]}")
        if self.parameter_count > MAX_PARAMETERS:
            raise ConfigError(f"this model would have {self.parameter_count:,} weights, above the limit of "
                              f"{MAX_PARAMETERS:,} ({MAX_PARAMETERS * 4 // 10**6} MB of float32); "
                              "choose smaller hidden sizes or fewer latent dimensions")
        if self.multiply_adds > MAX_MULTIPLY_ADDS:
            raise ConfigError(f"this model would take {self.multiply_adds:,} multiply-adds to encode and decode one "
                              f"image, above the limit of {MAX_MULTIPLY_ADDS:,}; choose fewer channels or smaller "
                              "hidden sizes")

    @property
    def input_dim(self) -> int:
        c, h, w = self.image_shape
        return c * h * w

    @property
    def effective_beta(self) -> float:
        """The KL weight this config trains with, relative to the summed ELBO: beta, times the number of pixels when
        the reconstruction is averaged over them (recon_reduction "mean")."""
        return self.beta * (self.input_dim if self.recon_reduction == "mean" else 1)

    @property
    def parameter_count(self) -> int:
        """The number of weights of VAE(self), counted from the shapes alone (nothing is allocated)."""
        hidden, z = list(self.hidden), self.latent_dim
        if self.arch == "mlp":
            body = _dense_weights([self.input_dim, *hidden]) + _dense_weights([z, *hidden[::-1], self.input_dim])
        else:
            c, h, w = self.image_shape
            grid = self.channels[-1] * (h >> len(self.channels)) * (w >> len(self.channels))
            widths = [c, *self.channels]
            convs = 2 * sum(16 * a * b for a, b in zip(widths, widths[1:])) + sum(widths[1:]) + sum(widths[:-1])
            body = convs + _dense_weights([grid, *hidden]) + _dense_weights([z, *hidden[::-1], grid])
        return body + 2 * (hidden[-1] * z + z)  # the mu and logvar heads

    @property
    def multiply_adds(self) -> int:
        """Multiply-adds of encoding and decoding one image (the forward pass), counted from the shapes."""
        hidden, z = list(self.hidden), self.latent_dim
        if self.arch == "mlp":
            return _dense_products([self.input_dim, *hidden, 2 * z]) + _dense_products([z, *hidden[::-1],
                                                                                         self.input_dim])
        c, h, w = self.image_shape
        widths, convs = [c, *self.channels], 0
        for layer, (a, b) in enumerate(zip(widths, widths[1:]), 1):  # 4x4 kernels, each halving the sides
            convs += 16 * a * b * (h >> layer) * (w >> layer)
        grid = self.channels[-1] * (h >> len(self.channels)) * (w >> len(self.channels))
        # the decoder's transposed convolutions mirror the encoder's
        return 2 * convs + _dense_products([grid, *hidden, 2 * z]) + _dense_products([z, *hidden[::-1], grid])

    def steps_per_epoch(self, train_size: int) -> int:
        """Optimiser steps an epoch over train_size images (the last batch may be short)."""
        return math.ceil(train_size / self.batch_size)

    def whole_batch_note(self, train_size: int) -> str | None:
        """What a batch larger than the training set means, in a line; None where it is not (a batch of 4096 on
        digits trained one step an epoch, and nothing said so)."""
        if self.batch_size <= train_size:
            return None
        return (f"batch size {self.batch_size:,} is more than {self.dataset}'s {train_size:,} training images: each "
                f"epoch is one step over all of them, {self.epochs:,} steps in all")

    def replace(self, **changes) -> Config:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        if not isinstance(d, dict):
            raise ConfigError(f"a config must be a JSON object, got {type(d).__name__}")
        settable = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = set(d) - settable - {"image_shape"}
        if unknown:
            raise ConfigError(f"unknown config keys: {', '.join(sorted(unknown))}")
        try:
            config = cls(**{k: v for k, v in d.items() if k in settable})
        except TypeError as e:  # a value of the wrong type, e.g. hidden given as a string
            raise ConfigError(f"bad config value: {e}") from None
        if "image_shape" in d and d["image_shape"] != list(config.image_shape):
            raise ConfigError(f"image_shape {_excerpt(d['image_shape'])} does not match dataset {config.dataset!r} "
                              f"({list(config.image_shape)})")
        return config


def parse_sizes(text: str, name: str = "hidden") -> tuple[int, ...]:
    """Layer widths written as the CLI and the train form take them: "400" or "512,256"."""
    try:
        return tuple(int(part) for part in str(text).replace(" ", "").split(","))
    except ValueError:
        raise ConfigError(f"{name} sizes must be comma-separated integers like 400 or 512,256, got {_excerpt(text)}") from None


def _dense_weights(widths) -> int:
    """Weights and biases of a stack of Linear layers through the given widths."""
    return sum(a * b + b for a, b in zip(widths, widths[1:]))


def _one_of(name, value, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {_excerpt(value)}")


def _excerpt(value, limit: int = 40) -> str:
    """A value as an error shows it: its repr, cut to limit characters (a hostile file's values can be huge)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def finite(value) -> bool:
    """Whether value is a number (an int or a float, not a bool) that is finite as a float: an int too large for one
    (10**4000, as a JSON file may write it) is not, and math.isfinite raised OverflowError on it."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _at_least(name, value, low, strict=False):
    number = finite(value)
    if not number or value < low or (strict and value == low):
        raise ConfigError(f"{name} must be a number {'>' if strict else '>='} {low}, got {_excerpt(value)}")


def _dense_products(widths) -> int:
    """Multiply-adds of one input through a stack of Linear layers of the given widths."""
    return sum(a * b for a, b in zip(widths, widths[1:]))
