"""vae_core: the variational autoencoder of the notes as a PyTorch package. Importing it has no side effects, and
imports nothing until a name is asked for (PEP 562): `python -m vae_core` refuses a mistyped flag in a fraction of
a second, before torch is loaded."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

# Each public name and the module that is its home.
_HOMES = {
    "Checkpoint": "checkpoint", "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "Config": "config",
    "DATASETS": "datasets",
    "Dataset": "data", "load_dataset": "data",
    "CheckpointError": "errors", "ConfigError": "errors", "DataError": "errors", "TrainingDiverged": "errors",
    "VAEError": "errors",
    "evaluate": "evaluation", "iwae_estimate": "evaluation",
    "VAE": "model",
    "History": "training", "train": "training", "train_new": "training",
}
__all__ = list(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:  # (an AttributeError lets `from vae_core import cluster` import the submodule)
        raise AttributeError(f"module 'vae_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value  # asked once
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOMES))


if TYPE_CHECKING:  # what a type checker and an editor see
    from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
    from .config import Config
    from .data import Dataset, load_dataset
    from .datasets import DATASETS
    from .errors import CheckpointError, ConfigError, DataError, TrainingDiverged, VAEError
    from .evaluation import evaluate, iwae_estimate
    from .model import VAE
    from .training import History, train, train_new
