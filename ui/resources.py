"""Shared, read-only things every session may use: shipped models, datasets, test-set encodings (all cached)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from vae_core import Checkpoint, CheckpointError, Config, DataError, Dataset, load_checkpoint, load_dataset
from vae_core.checkpoint import METRICS, WEIGHTS, Summary, find_checkpoints, summarize, sweep_members
from vae_core.flags import config_from_flags
from vae_core.runs import CURVE_KS, LikelihoodCurve, RunState, start_likelihood_curve
from vae_core.evaluation import encode_dataset, evaluate, pca_plane, plane_latents, project_2d
from vae_core.tradeoff import aggregate_density

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_DIR = ROOT / "models"
SWEEPS_DIR = SHIPPED_DIR / "sweeps"
DEFAULT_MODEL = SHIPPED_DIR / "digits-2d"
TSNE_POINTS = 2000  # t-SNE is quadratic-ish: a fixed subsample keeps it under a minute on two cores


def runs_dir() -> Path:
    """Where the train page saves checkpoints and uploads land: VAE_RUNS_DIR, or runs/ in the repo."""
    return Path(os.environ.get("VAE_RUNS_DIR") or ROOT / "runs")


def without_server_paths(text: str) -> str:
    """A message as a class may read it: in class mode the server's folders named as the app calls them (runs/,
    the repository's own), not by where they lie on the server (an unreadable upload's message gave its path)."""
    if not class_mode():
        return text  # (on one's own machine the full path is what finds the file)
    return text.replace(str(runs_dir().resolve()), "runs").replace(str(runs_dir()), "runs").replace(
        str(ROOT) + os.sep, "")


def class_mode() -> bool:
    """VAE_CLASS_MODE=1: many people share this server, so a session lists only its own runs (and the shipped
    models), never everyone's saved runs."""
    return os.environ.get("VAE_CLASS_MODE", "").strip().lower() in ("1", "true", "yes", "on")


def shipped_models() -> list[str]:
    return [str(p) for p in find_checkpoints(SHIPPED_DIR, depth=1)]


def is_checkpoint(path: str) -> bool:
    """Whether path is a checkpoint that can be read (its JSON checked, weights not loaded)."""
    try:
        summary(path)
    except (CheckpointError, OSError):
        return False
    return True


def saved_runs() -> list[str]:
    """Every checkpoint under the runs folder, newest name first (names start with their time)."""
    return [str(p) for p in reversed(find_checkpoints(runs_dir()))]


def stamp(path: str) -> float:
    """Modification time of the weights and metrics, so a cache entry ends when a checkpoint is rewritten."""
    p = Path(path)
    try:
        return max(f.stat().st_mtime for f in ([p / WEIGHTS, p / METRICS] if p.is_dir() else [p]) if f.exists())
    except ValueError:
        raise CheckpointError(f"{path}: no such checkpoint (moved or deleted?)") from None


def summary(path: str) -> Summary:
    """A checkpoint's config and metrics, read from its JSON (no weights): for labels and lists of models."""
    return _summary(path, stamp(path))


@st.cache_data(max_entries=512, show_spinner=False)
def _summary(path: str, stamp: float) -> Summary:
    return summarize(path)


def model(path: str) -> Checkpoint:
    """The checkpoint at path, loaded once per process and shared: never train or edit it."""
    return _load_model(path, stamp(path))


@st.cache_resource(max_entries=32, show_spinner=False)
def _load_model(path: str, stamp: float) -> Checkpoint:
    return load_checkpoint(path)


@st.cache_resource(max_entries=8, show_spinner="Loading the dataset...")
def dataset(name: str) -> Dataset:
    """The dataset, whole in memory; raises DataError when its files cannot be found or fetched."""
    return load_dataset(name, download=False)


def dataset_or_explain(name: str, needs: str) -> Dataset | None:
    """The dataset, or None after telling the user what is missing and offering the download."""
    try:
        return dataset(name)
    except DataError as e:
        st.warning(f"{needs} needs the {name} test images. {e}")
        if st.button(f"Download {name} now", key=f"download_{name}"):
            with st.spinner(f"Downloading {name}..."):
                try:
                    load_dataset(name, download=True)
                except DataError as err:
                    st.error(str(err))
                    return None
            st.rerun()
        return None


def encodings(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and standard deviations of the model's test set, [N, D] each."""
    return _encodings(path, stamp(path))


@st.cache_data(max_entries=16, show_spinner="Encoding the test set...")
def _encodings(path: str, stamp: float):
    checkpoint = model(path)
    mu, std = encode_dataset(checkpoint.model, dataset(checkpoint.config.dataset).test_x)
    return mu.numpy(), std.numpy()


@st.cache_data(max_entries=16, show_spinner="Projecting the latent means to 2-D (t-SNE takes about 10 s here, once "
                                            "per model)...")
def projection(path: str, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices of the test images shown, their 2-D coordinates) for the latent map."""
    mu, _ = encodings(path)
    index = np.arange(len(mu))
    if method == "tsne" and len(mu) > TSNE_POINTS:
        index = np.random.default_rng(0).choice(len(mu), TSNE_POINTS, replace=False)
    return index, project_2d(torch.from_numpy(mu[index]), method)


def test_metrics(path: str) -> dict:
    """evaluate() on the model's test set: per-dimension KL, unit activity, the objective's parts. A checkpoint
    saved by this project already carries them; others are evaluated once."""
    saved = model(path).metrics
    if {"kl_per_dim", "activity", "active_units"} <= set(saved):
        return saved
    return _test_metrics(path, stamp(path))


@st.cache_data(max_entries=32, show_spinner="Evaluating on the test set...")
def _test_metrics(path: str, stamp: float) -> dict:
    checkpoint = model(path)
    return evaluate(checkpoint.model, dataset(checkpoint.config.dataset).test_x, seed=checkpoint.config.seed)


def likelihood_curve(path: str):
    """The model's -log p(x) estimates for the lesson's k (runs.CURVE_KS): {k: estimate} when its metrics hold
    them all (the shipped models' do), else the one LikelihoodCurve of this server that computes them, shared by every
    session asking, which keeps them in the checkpoint's metrics.json (not in a shipped model's: the repository's)."""
    known = model(path).metrics.get("iwae", {})
    if all("elbo_gap_se" in known.get(str(k), {}) for k in CURVE_KS):  # (estimates kept before the gap was: again)
        return {k: known[str(k)] for k in CURVE_KS}
    job = _curve_job(path, stamp(path))
    return dict(job.points) if job.state == RunState.DONE else job


@st.cache_resource(max_entries=32, show_spinner=False)
def _curve_job(path: str, stamp: float) -> LikelihoodCurve:
    checkpoint = model(path)
    shipped = Path(path).resolve().is_relative_to(SHIPPED_DIR.resolve())
    return start_likelihood_curve(load_checkpoint(path), dataset(checkpoint.config.dataset), keep=not shipped)


AGGREGATE_GRID = np.linspace(-4, 4, 81)


def aggregate(path: str, dims: tuple[int, ...]) -> np.ndarray:
    """The model's aggregate posterior over its test set (the exact mixture of the images' Gaussians) on
    AGGREGATE_GRID: a density over one dimension, or over the plane of two ([81, 81], rows over dims[1])."""
    return _aggregate(path, stamp(path), tuple(dims))


@st.cache_data(max_entries=64, show_spinner="Mixing the test set's posteriors...")
def _aggregate(path: str, stamp: float, dims: tuple[int, ...]) -> np.ndarray:
    mu, std = encodings(path)
    return aggregate_density(mu, std, AGGREGATE_GRID, dims)


@st.cache_data(show_spinner=False)
def shipped_sweeps() -> dict[str, list[str]]:
    """Dataset name -> checkpoint paths of its shipped beta sweep, by increasing beta."""
    return {folder.name: [str(s.path) for s in sweep_members(folder)]
            for folder in sorted(SWEEPS_DIR.iterdir()) if folder.is_dir()}


@st.cache_data(show_spinner=False)
def sweep_base(dataset: str) -> Config:
    """The settings every model of the shipped beta sweep on dataset shares (models/recipes.json): the base
    of the sweep and warm-up pages' own runs too."""
    recipes = json.loads((SHIPPED_DIR / "recipes.json").read_text())
    return config_from_flags(recipes["sweeps"][dataset]["base"])


def pca(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(centre [D], the two principal directions [2, D]) of the test set's posterior means: the plane of the
    latent map's PCA view."""
    return _pca(path, stamp(path))


@st.cache_data(max_entries=16, show_spinner=False)
def _pca(path: str, stamp: float):
    centre, axes = pca_plane(torch.from_numpy(encodings(path)[0]))
    return centre.numpy(), axes.numpy()


def pca_manifold(path: str, n: int) -> np.ndarray:
    """The latents of an n x n grid over the PCA plane of the latent map, across the middle 98% of its points
    (plane_latents: row by row, the first PCA axis to the right, the second upward)."""
    return _pca_manifold(path, stamp(path), n)


@st.cache_data(max_entries=16, show_spinner=False)
def _pca_manifold(path: str, stamp: float, n: int) -> np.ndarray:
    xy = projection(path, "pca")[1]
    low, high = np.percentile(xy, 1, axis=0), np.percentile(xy, 99, axis=0)
    centre, axes = pca(path)
    return plane_latents(torch.from_numpy(centre), torch.from_numpy(axes), (low[0], high[0], low[1], high[1]),
                         n).numpy()
