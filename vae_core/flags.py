"""Config's fields as command-line flags: the options the CLI's train and sweep take, and the Config a list of such
flags describes (the recipes of the shipped models, models/recipes.json, are written as flags)."""
from __future__ import annotations

import argparse
import dataclasses

from .config import ARCHS, LIKELIHOODS, PRECISIONS, REDUCTIONS, Config, parse_sizes
from .datasets import DATASETS
from .errors import ConfigError


def _sizes(text: str) -> tuple[int, ...]:
    try:
        return parse_sizes(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_config_flags(t: argparse.ArgumentParser) -> None:
    """One flag per Config field, its default taken from Config(): the flags' dest names are the field names."""
    d = Config()
    t.add_argument("--dataset", default=d.dataset, choices=list(DATASETS))
    t.add_argument("--arch", default=d.arch, choices=ARCHS)
    t.add_argument("--hidden", type=_sizes, default=d.hidden, help="hidden layer sizes, e.g. 400 or 512,256")
    t.add_argument("--channels", type=_sizes, default=d.channels,
                   help="conv arch: widths of the stride-2 convolutions, e.g. 32,64")
    t.add_argument("--latent-dim", type=int, default=d.latent_dim)
    t.add_argument("--likelihood", default=d.likelihood, choices=LIKELIHOODS)
    t.add_argument("--obs-sigma", type=float, default=d.obs_sigma, help="std of the Gaussian likelihood")
    t.add_argument("--beta", type=float, default=d.beta, help="weight of the KL term")
    t.add_argument("--recon-reduction", default=d.recon_reduction, choices=REDUCTIONS,
                   help="sum the reconstruction over pixels (the ELBO) or average it (a common mistake, for teaching)")
    t.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs, help="linear KL warm-up length")
    t.add_argument("--free-bits", type=float, default=d.free_bits, help="nats per dimension not penalised")
    t.add_argument("--binarize", action="store_true", help="dynamic binarisation of the pixels")
    t.add_argument("--epochs", type=int, default=d.epochs)
    t.add_argument("--batch-size", type=int, default=d.batch_size)
    t.add_argument("--lr", type=float, default=d.lr)
    t.add_argument("--lr-decay", type=float, default=d.lr_decay,
                   help="fraction of the epochs, at the end, over which the rate falls along a cosine to lr/100")
    t.add_argument("--ema", type=float, default=d.ema,
                   help="per-step decay of a weight average that is evaluated and saved, e.g. 0.9995 (0: none)")
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--precision", default=d.precision, choices=PRECISIONS)


def config_from_args(args: argparse.Namespace) -> Config:
    """The Config the parsed flags describe (ConfigError if they cannot work together)."""
    return Config(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Config) if f.init})


class _RaisingParser(argparse.ArgumentParser):
    def error(self, message):
        raise ConfigError(message)


def config_from_flags(argv: list[str]) -> Config:
    """The Config that train flags describe, e.g. a recipe's ["--dataset", "digits", "--latent-dim", "8"]
    (models/recipes.json); ConfigError names a flag that does not parse."""
    parser = _RaisingParser(prog="recipe", add_help=False)
    add_config_flags(parser)
    return config_from_args(parser.parse_args(argv))
