"""Checkpoints: safetensors weights + JSON config + JSON metrics in one folder, written atomically, never pickled.

The weights file also carries the config in its metadata, so a single .safetensors file (an upload,
say) is a complete checkpoint too.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from .config import Config
from .errors import CheckpointError, ConfigError
from .model import VAE

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
METRICS = "metrics.json"
FORMAT = "vae-lab/1"  # marks our files among other safetensors


@dataclass
class Checkpoint:
    model: VAE
    path: Path
    history: list[dict] = field(default_factory=list)  # one record per epoch (see training.train)
    metrics: dict = field(default_factory=dict)        # final test metrics (see evaluation.evaluate)

    @property
    def config(self) -> Config:
        return self.model.config


def save_checkpoint(model: VAE, directory: str | Path, history: list[dict] | None = None,
                    metrics: dict | None = None) -> Path:
    """Write the three files into directory (created if needed); each appears whole or not at all."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config_json = model.config.to_json()
    tensors = {k: v.detach().float().cpu().contiguous() for k, v in model.state_dict().items()}
    _atomic_write(directory / WEIGHTS, lambda tmp: save_file(tensors, tmp, metadata={"format": FORMAT,
                                                                                    "config": config_json}))
    _atomic_write(directory / CONFIG, lambda tmp: Path(tmp).write_text(config_json + "\n"))
    metrics_json = json.dumps({"history": history or [], "metrics": metrics or {}}, indent=2)
    _atomic_write(directory / METRICS, lambda tmp: Path(tmp).write_text(metrics_json + "\n"))
    return directory


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is for anyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Load a checkpoint folder (or a lone .safetensors file), checking every part before trusting it."""
    path = Path(path)
    if path.is_dir():
        weights = path / WEIGHTS
        if not weights.is_file():
            raise CheckpointError(f"{path}: no {WEIGHTS} in this folder; is it a checkpoint folder?")
        config = _config_from_file(path / CONFIG) if (path / CONFIG).is_file() else None
        history, metrics = _read_metrics(path / METRICS)
    elif path.is_file():
        weights, config, history, metrics = path, None, [], {}
    else:
        raise CheckpointError(f"{path}: no such checkpoint file or folder")

    tensors, metadata = _read_safetensors(weights)
    if config is None:
        if "config" not in metadata:
            raise CheckpointError(f"{weights}: no config beside it or inside it; not a vae-lab checkpoint")
        config = _parse_config(metadata["config"], f"{weights} (metadata)")
    model = VAE(config)
    _check_tensors(weights, tensors, model.state_dict())
    model.load_state_dict(tensors)
    model.to(device).eval()
    return Checkpoint(model=model, path=path, history=history, metrics=metrics)


def _config_from_file(path: Path) -> Config:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: cannot read ({e})") from None
    return _parse_config(text, str(path))


def _parse_config(text: str, where: str) -> Config:
    try:
        return Config.from_dict(json.loads(text))
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{where}: config is not valid JSON ({e.msg} at line {e.lineno})") from None
    except ConfigError as e:
        raise CheckpointError(f"{where}: {e}") from None


def _read_metrics(path: Path) -> tuple[list, dict]:
    if not path.is_file():
        return [], {}
    try:
        data = json.loads(path.read_text())
        return list(data["history"]), dict(data["metrics"])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: metrics file is damaged ({type(e).__name__}: {e})") from None


def _read_safetensors(path: Path) -> tuple[dict, dict]:
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors file, truncated or corrupt ({e})") from None
    if metadata.get("format", FORMAT) != FORMAT:
        raise CheckpointError(f"{path}: format {metadata['format']!r}, expected {FORMAT!r}")
    return tensors, metadata


def _check_tensors(path: Path, tensors: dict, expected: dict) -> None:
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise CheckpointError(f"{path}: tensors do not match the config's model "
                              f"(missing: {', '.join(missing[:4]) or 'none'}; "
                              f"unexpected: {', '.join(unexpected[:4]) or 'none'}); a foreign or mismatched file?")
    for key, value in expected.items():
        if tuple(tensors[key].shape) != tuple(value.shape):
            raise CheckpointError(f"{path}: tensor {key} has shape {tuple(tensors[key].shape)}, "
                                  f"the config needs {tuple(value.shape)}")
        if not tensors[key].is_floating_point():
            raise CheckpointError(f"{path}: tensor {key} has dtype {tensors[key].dtype}, expected floating point")
        if not torch.isfinite(tensors[key]).all():
            raise CheckpointError(f"{path}: tensor {key} holds NaN or infinite values")
