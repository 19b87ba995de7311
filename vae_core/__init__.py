"""vae_core: the variational autoencoder of the notes as a PyTorch package. Importing it has no side effects."""
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .config import Config
from .data import DATASETS, Dataset, load_dataset
from .errors import CheckpointError, ConfigError, DataError, TrainingDiverged, VAEError
from .evaluation import evaluate, iwae_estimate
from .model import VAE
from .training import History, train, train_new

__all__ = [
    "Checkpoint", "load_checkpoint", "save_checkpoint", "Config", "DATASETS", "Dataset", "load_dataset",
    "CheckpointError", "ConfigError", "DataError", "TrainingDiverged", "VAEError", "evaluate", "iwae_estimate",
    "VAE", "History", "train", "train_new",
]
