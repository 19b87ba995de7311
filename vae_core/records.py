"""The JSON records a checkpoint carries beside its weights (metrics.json: the per-epoch history and the test
metrics), checked field by field when they are read: a file from elsewhere (an upload, a folder copied in) is
refused with the field named, so that no page, listing or command ever meets a value of the wrong type.

Every field a reader uses is checked (type, finiteness, range, the latent size of per-dimension lists); other
fields are kept as they are. The file's size is bounded before it is parsed, and nesting too deep for the
parser is refused like any other damage. And what the records tell in words: the β and learning rate a model
trained with, and what a rate under one bit means.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from .config import finite
from .errors import CheckpointError

if TYPE_CHECKING:
    from .config import Config

MAX_BYTES = 16 * 2**20  # a 500-epoch history is about 0.3 MB
HISTORY_NUMBERS = ("train_loss", "train_recon", "train_kl", "test_nelbo", "test_recon", "test_kl", "seconds")
HISTORY_OPTIONAL = ("beta", "lr", "train_seconds")
METRIC_NUMBERS = ("nelbo", "recon", "kl")
PER_DIMENSION = ("kl_per_dim", "activity")
IWAE_NUMBERS = ("iwae_nll", "iwae_nll_se")
IWAE_OPTIONAL = ("elbo_gap", "elbo_gap_se")  # estimates made before the gap was kept have none


def read_metrics(path: Path, latent_dim: int) -> tuple[list[dict], dict]:
    """(history, metrics) of a metrics.json, each field checked; ([], {}) if there is none."""
    if not path.is_file():
        return [], {}
    try:
        if path.stat().st_size > MAX_BYTES:
            raise CheckpointError(f"{path}: metrics file of {path.stat().st_size:,} bytes, more than the "
                                  f"{MAX_BYTES:,} accepted")
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError, ValueError) as e:
        raise CheckpointError(f"{path}: metrics file is damaged ({type(e).__name__}: {_short(e)})") from None
    try:
        return check_metrics(data, latent_dim)
    except _Bad as e:
        raise CheckpointError(f"{path}: {e}") from None


def check_metrics(data, latent_dim: int) -> tuple[list[dict], dict]:
    """data (metrics.json parsed) checked; raises _Bad naming the first field that does not fit."""
    if not isinstance(data, dict) or not isinstance(data.get("history"), list) or \
            not isinstance(data.get("metrics"), dict):
        raise _Bad("metrics file must be a JSON object with a list 'history' and an object 'metrics'")
    history = [_record(r, i, latent_dim) for i, r in enumerate(data["history"])]
    return history, _metrics(data["metrics"], latent_dim)


class _Bad(ValueError):
    """A field that does not fit; the message names it."""


def _record(record, index: int, latent_dim: int) -> dict:
    where = f"history[{index}]"
    if not isinstance(record, dict):
        raise _Bad(f"{where} must be an object, got {_kind(record)}")
    _int(record, "epoch", where, low=1)
    for key in HISTORY_NUMBERS:
        _number(record, key, where)
    for key in HISTORY_OPTIONAL:
        if key in record:
            _number(record, key, where, low=0)
    if "active_units" in record:
        _int(record, "active_units", where, low=0, high=latent_dim)
    changes = record.get("changes", [])
    if not isinstance(changes, list):
        raise _Bad(f"{where}.changes must be a list, got {_kind(changes)}")
    for i, change in enumerate(changes):  # beta or the learning rate changed while the epoch trained
        at = f"{where}.changes[{i}]"
        if not isinstance(change, dict) or not {"beta", "lr"} & set(change):
            raise _Bad(f"{at} must be an object with beta or lr, got {_kind(change)}")
        _int(change, "step", at, low=1)
        for key in ("beta", "lr", "beta_before", "lr_before"):
            if key in change:
                _number(change, key, at, low=0)
    return record


def _metrics(metrics: dict, latent_dim: int) -> dict:
    where = "metrics"
    for key in METRIC_NUMBERS:
        if key in metrics:
            _number(metrics, key, where)
    for key in PER_DIMENSION:
        if key in metrics:
            values = metrics[key]
            if not isinstance(values, list) or len(values) != latent_dim:
                raise _Bad(f"{where}.{key} must be a list of {latent_dim} numbers (one per latent dimension), "
                           f"got {_kind(values)}")
            for i in range(latent_dim):
                _number(values, i, f"{where}.{key}")
    if "active_units" in metrics:
        _int(metrics, "active_units", where, low=0, high=latent_dim)
    if "n" in metrics:
        _int(metrics, "n", where, low=1)
    if "iwae" in metrics:
        estimates = metrics["iwae"]
        if not isinstance(estimates, dict):
            raise _Bad(f"{where}.iwae must be an object of estimates by k, got {_kind(estimates)}")
        for k, estimate in estimates.items():
            at = f"{where}.iwae[{_short(k)}]"
            if not (isinstance(k, str) and k.isdigit() and 0 < int(k) <= 10**9) or not isinstance(estimate, dict):
                raise _Bad(f"{at} must be an estimate under a whole number of samples")
            for key in IWAE_NUMBERS:
                _number(estimate, key, at, low=0 if key.endswith("_se") else None)
            for key in IWAE_OPTIONAL:
                if key in estimate:
                    _number(estimate, key, at, low=0 if key.endswith("_se") else None)
            _int(estimate, "iwae_k", at, low=1)
            _int(estimate, "iwae_n", at, low=1)
    return metrics


def _number(container, key, where: str, low: float | None = None) -> None:
    value = _get(container, key, where)
    if not finite(value) or (low is not None and value < low):
        rule = f"a finite number{f' >= {low:g}' if low is not None else ''}"
        raise _Bad(f"{_name(where, key)} must be {rule}, got {_short(value)}")


def _int(container, key, where: str, low: int, high: int | None = None) -> None:
    value = _get(container, key, where)
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise _Bad(f"{_name(where, key)} must be a whole number {span}, got {_short(value)}")


def _get(container, key, where: str):
    try:
        return container[key]
    except (KeyError, IndexError):
        raise _Bad(f"{_name(where, key)} is missing") from None


def _name(where: str, key) -> str:
    return f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}"


def _kind(value) -> str:
    return f"{type(value).__name__} {_short(value)}"


def _short(value, limit: int = 40) -> str:
    """A value as a message shows it: its repr, cut to limit characters (a hostile file's values can be huge)."""
    text = repr(value) if not isinstance(value, BaseException) else str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def beta_text(config: Config, epochs: list[dict], steps: bool = True) -> str:
    """β as a model was trained, in a few words: "β=1", or where it was changed while it trained (epoch records'
    "changes"), every value it took, "β=1→5 (changed at step 1,234)" (without steps, "β=1→5"): the config alone
    ends with the last. A model trained on the reconstruction's mean over pixels says so (it read as any β=1 model,
    and is β × pixels in effect)."""
    mean = (f" (reconstruction averaged over {config.input_dim} pixels)" if config.recon_reduction == "mean" else "")
    return f"β={_changed('beta', epochs, steps) or f'{config.beta:g}'}{mean}"


def lr_text(epochs: list[dict]) -> str:
    """The learning rate where it was changed while the model trained, "learning rate 0.001→0.01 (changed at step
    37)"; "" where it was not (a run's summary said only its β's change)."""
    changed = _changed("lr", epochs)
    return f"learning rate {changed}" if changed else ""


def started_with(config: Config, epochs: list[dict]) -> Config:
    """The config a model began training with: config ends as trained, with the β and learning rate of its last
    change while it trained; the first change of each says what it was before (older records do not: those keep
    config's)."""
    seen, first = set(), {}
    for change in (c for record in epochs for c in record.get("changes", ())):
        for key in ("beta", "lr"):
            if key in change and key not in seen:  # (only the first change of each knows the value before)
                seen.add(key)
                if change.get(f"{key}_before") is not None:
                    first[key] = change[f"{key}_before"]
    return config.replace(**first)


def _changed(key: str, epochs: list[dict], steps: bool = True) -> str:
    """Every value a setting took while a model trained and (with steps) the steps it changed at, "1→5 (changed at
    step 1,234)"; "" if it never changed."""
    changes = [c for record in epochs for c in record.get("changes", ()) if key in c]
    if not changes:
        return ""
    first = changes[0].get(f"{key}_before")  # (older records do not have it)
    values = [f"{v:g}" for v in ([first] if first is not None else []) + [c[key] for c in changes]]
    if len(values) > 4:
        values = [values[0], "…", values[-1]]
    if not steps:
        return "→".join(values)
    at = ", ".join(f"{c['step']:,}" for c in changes[:3]) + (", …" if len(changes) > 3 else "")
    return f"{'→'.join(values)} (changed at step{'s' if len(changes) > 1 else ''} {at})"


ONE_BIT = math.log(2)  # nats


def rate_note(kl: float) -> str:
    """What a model's total KL says where it is under one bit, else "": its units may still count as active (their
    means vary), but z can tell next to nothing about an image (the shipped digits sweep at β = 3 counts 3 active
    units over 0.061 nats in all, beside reconstructions that are one grey average)."""
    if kl >= ONE_BIT:
        return ""
    return (f"all the units together carry {kl:.2g} nats per image, under one bit ({ONE_BIT:.2f} nats): the rate "
            "bounds what z can tell about an image, and this is too little to tell one class of image from another")
