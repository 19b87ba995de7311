"""Widgets the pages share: the sidebar model picker with upload, test-image pickers, crisp enlarged images,
originals over reconstructions, and following a background job."""
from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import streamlit as st
import torch
from PIL import Image

from vae_core import Checkpoint, Dataset, VAEError, evaluate, load_checkpoint
from vae_core.checkpoint import import_checkpoint, save_metrics, zip_checkpoint
from vae_core.evaluation import as_images, reconstruction_rows
from vae_core.runs import RunState

from . import links, resources, state


def label(path: str) -> str:
    """One line per model: name, dataset, latent size, beta and test negative ELBO."""
    try:
        return resources.summary(path).label
    except VAEError:
        return f"{Path(path).name} (unreadable)"


def model_picker() -> Checkpoint:
    """Render the sidebar's model picker (app.py does, below the page list) and return the chosen checkpoint.

    The checkpoint is cached and shared between sessions: read it, never train or edit it.
    """
    st.session_state.setdefault(state.MY_MODELS, [])
    st.session_state.setdefault(state.MODEL, str(resources.DEFAULT_MODEL))
    options = resources.shipped_models() + st.session_state[state.MY_MODELS]
    if st.session_state[state.MODEL] not in options:
        options.append(st.session_state[state.MODEL])
    with st.sidebar:
        st.header("Model")
        # The widget's own key is dropped on page switches; our key keeps the choice.
        st.session_state["_model_picker"] = st.session_state[state.MODEL]
        st.selectbox("Model", options, key="_model_picker", format_func=label, label_visibility="collapsed",
                     on_change=lambda: st.session_state.update({state.MODEL: st.session_state["_model_picker"]}))
        try:
            checkpoint = resources.model(st.session_state[state.MODEL])
        except VAEError as e:
            st.error(f"{e}. Showing the default model instead.")
            st.session_state[state.MODEL] = str(resources.DEFAULT_MODEL)
            checkpoint = resources.model(st.session_state[state.MODEL])
        c, m = checkpoint.config, checkpoint.metrics
        score = (f" Test −ELBO {m['nelbo']:.2f} = reconstruction {m['recon']:.2f} + KL {m['kl']:.2f} nats."
                 if {"nelbo", "recon", "kl"} <= set(m) else "")
        trained = f"{len(checkpoint.history)} epochs on" if checkpoint.history else "trained on"
        st.caption(f"{c.arch.upper()} {'-'.join(map(str, c.hidden))}, latent {c.latent_dim}, β={c.beta:g}, "
                   f"{trained} {c.dataset}.{score}")
        folder = Path(st.session_state[state.MODEL])
        if folder.is_dir():  # (the zip is made when clicked, on another thread: it gets the path, not the session)
            st.download_button("Download this model (.zip)", lambda: zip_checkpoint(folder), f"{folder.name}.zip",
                               "application/zip", key="download_model", on_click="ignore",
                               help="its checkpoint folder: weights, config and metrics; the uploader takes it back")
        _upload()
        if not resources.class_mode():  # in a class, other people's runs are theirs to share
            _open_saved_run()
    return checkpoint


def current() -> Checkpoint:
    """The checkpoint the sidebar's picker has chosen for this session (app.py draws the picker first)."""
    return resources.model(st.session_state[state.MODEL])


def _upload() -> None:
    upload = st.file_uploader("Upload a checkpoint (.safetensors, or a .zip of a checkpoint folder)",
                              type=["safetensors", "zip"], key="model_upload")
    if upload is None:
        return
    seen = st.session_state.setdefault(state.UPLOADS, {})  # file id -> its folder, or why it was refused
    if upload.file_id not in seen:
        try:
            seen[upload.file_id] = _import(upload.getvalue(), upload.name)
        except VAEError as e:
            seen[upload.file_id] = e
        else:
            state.add_model(seen[upload.file_id])
            st.rerun()
    if isinstance(seen[upload.file_id], VAEError):
        st.error(str(seen[upload.file_id]))


def _import(data: bytes, name: str) -> str:
    """Keep an upload as a checkpoint folder, scored on its test set when we have it (so the picker shows its
    nats like any other model's); returns the folder."""
    folder = import_checkpoint(data, name, resources.runs_dir())
    checkpoint = load_checkpoint(folder)
    if not checkpoint.metrics:
        try:
            test_x = resources.dataset(checkpoint.config.dataset).test_x
            save_metrics(folder, checkpoint.history, evaluate(checkpoint.model, test_x, seed=checkpoint.config.seed))
        except VAEError:
            pass  # its test images are not here: the model still works, unscored
    return str(folder)


def _open_saved_run() -> None:
    runs = [r for r in resources.saved_runs() if r not in st.session_state[state.MY_MODELS]]
    if not runs:
        return
    with st.expander("Open a saved run"):
        choice = st.selectbox("Saved runs", runs, index=None, format_func=label, key="open_saved_run",
                              placeholder="runs/ on this machine")
        if choice and st.button("Open", key="open_saved_run_button"):
            state.add_model(choice)
            st.rerun()


def test_image_picker(data: Dataset, key: str, label: str = "Test image", default: int = 0,
                      disabled: bool = False, linked: bool = True) -> int:
    """A number input over the test set with a small preview of the chosen image beside it; returns the index.

    A linked picker (one per page) is set by a link's image=N, and puts its index back into the link."""
    last = len(data.test_x) - 1
    from_link = links.take_number("image", low=0, high=last) if linked else None
    if from_link is not None and from_link == int(from_link):
        st.session_state[key] = int(from_link)
    elif key not in st.session_state:  # the start value goes through the state too: a widget given both warns
        st.session_state[key] = min(default, last)
    number, preview = st.columns([5, 1], vertical_alignment="bottom")
    index = int(number.number_input(f"{label} (0-{last})", 0, last, key=key, disabled=disabled))
    with preview:
        thumbnail(as_images(data.test_x[index], data.image_shape)[0])
    if linked and not disabled:
        links.write("image", index)
    return index


def show_reconstructions(model, x: torch.Tensor, size: int, per_row: int = 8) -> None:
    """Test images in rows, each row with the model's reconstructions of them (decoded means) below it."""
    rows = "rows 1 and 3" if len(x) > per_row else "top row"
    show_image(reconstruction_rows(model, x, per_row), size,
               f"{rows}: test images · below each: its reconstruction (decoded posterior mean)")


def objective_breakdown(parts, beta: float, latent_dim: int, narrow: bool = False) -> None:
    """One image's negative ELBO written out with its own numbers (vae_core.tradeoff.ObjectiveParts), reweighted
    by beta, then each dimension's mean, spread and KL. narrow: for half a page, the KL named rather than written
    out and the sum on a second line (the whole formula is wider than a column)."""
    if narrow:
        st.latex(r"\begin{aligned}\mathcal L(x) &= \underbrace{\mathbb E_{q}[-\log p(x|z)]}_{%.2f} + \beta\,"
                 r"\underbrace{\mathrm{KL}(q(z|x)\,\|\,p(z))}_{%.2f} \\ &= %.2f + %g \times %.2f = \mathbf{%.2f}\ "
                 r"\text{nats}\end{aligned}" % (parts.recon, parts.kl, parts.recon, beta, parts.kl, parts.total(beta)))
    else:
        st.latex(r"\mathcal L(x) = \underbrace{\mathbb E_{q(z|x)}[-\log p(x|z)]}_{%.2f} + \beta\,\underbrace{"
                 r"\tfrac12\textstyle\sum_{i=1}^{%d}(\mu_i^2+\sigma_i^2-\log\sigma_i^2-1)}_{%.2f}"
                 r" = %.2f + %g \times %.2f = \mathbf{%.2f}\ \text{nats}"
                 % (parts.recon, latent_dim, parts.kl, parts.recon, beta, parts.kl, parts.total(beta)))
    order = np.argsort(-np.asarray(parts.kl_per_dim), kind="stable")  # what carries this image's information first
    st.dataframe({"dimension": [f"z{i}" for i in order], "μ": np.asarray(parts.mu)[order],
                  "σ": np.asarray(parts.sigma)[order], "KL, nats": np.asarray(parts.kl_per_dim)[order]}, hide_index=True)
    if latent_dim > 2:
        st.caption("Rows from the largest KL for this image to the smallest.")


def enlarge(image: torch.Tensor | np.ndarray, size: int) -> np.ndarray:
    """A [H, W] image in [0, 1] as uint8, enlarged by an integer factor to about size pixels wide, with hard
    pixel edges (no blur)."""
    array = image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    factor = max(1, size // array.shape[1])
    array = np.repeat(np.repeat(array, factor, 0), factor, 1)
    return (np.clip(array, 0, 1) * 255).round().astype(np.uint8)


def thumbnail(image, size: int = 56) -> None:
    """A small inline picture of a [H, W] image (the browser enlarges it without blur): a preview beside a
    control, kept out of the page's st.image elements so that those stay the model's outputs."""
    buffer = io.BytesIO()
    Image.fromarray(enlarge(image, 1)).save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode()
    st.html(f'<img src="data:image/png;base64,{data}" width="{size}" height="{size}" '
            f'style="image-rendering: pixelated; border-radius: 4px" alt="test image">')


def show_image(image, size: int = 280, caption: str | None = None) -> None:
    st.image(enlarge(image, size), caption=caption, output_format="PNG")  # JPEG would blur the pixel edges


def follow(job, render: Callable[[], None]) -> None:
    """Draw render() now, and again every second while job runs (only this block reruns); when the job ends,
    rerun the whole page once, so what it made shows everywhere (the sidebar, a chart) and the polling stops.

    The job runs elsewhere and never touches Streamlit; render only reads it.
    """
    polling = job is not None and job.active

    @st.fragment(run_every=1.0 if polling else None)
    def poll():
        if polling and not job.active:
            st.rerun()
        render()

    poll()


def status(run) -> str:
    """A run's state in a few words: waiting, its epoch, or how it ended."""
    if run.state == RunState.RUNNING:
        return f"epoch {min(run.epoch + 1, run.config.epochs)} of {run.config.epochs}"
    return waiting(run) or f"{run.state} after {run.epoch} epochs"


def waiting(job) -> str | None:
    """What a job that has not started yet waits for, in a few words (None once it runs)."""
    if job.state == RunState.STARTING:
        return "starting workers…"
    if job.state == RunState.QUEUED:
        if job.ahead:
            return f"queued: {job.ahead} job{'s' if job.ahead != 1 else ''} ahead"
        cpus = f"{job.cpus} free CPU{'s' if job.cpus != 1 else ''}"  # or a worker process, the first time
        return f"queued: next to start, as soon as a Ray worker with {cpus} is ready"
    return None


def run_progress(run) -> None:
    """One training run's progress line (waiting, epochs and ETA, or how it ended) and its stop button."""
    config = run.config
    if run.state == RunState.RUNNING:
        eta, worker = run.eta_seconds, run.worker
        st.progress(run.fraction, text=f"epoch {min(run.epoch + 1, config.epochs)} of {config.epochs}, "
                                       f"step {run.step}/{run.steps_per_epoch or '?'}"
                                       + (f" · about {eta:.0f} s left" if eta is not None else "")
                                       + f" · Ray worker {worker.pid} on node {worker.node[:8]}, "
                                         f"{worker.threads} thread{'s' if worker.threads > 1 else ''}")
    elif run.active:
        st.progress(0.0, text=waiting(run))
    else:
        st.progress(run.fraction, text=f"{run.state}: {run.epoch} of {config.epochs} epochs")
        (st.error if run.state == RunState.FAILED else st.warning if run.checkpoint is None else st.success)(run.message)
    if run.active:
        st.button("Stop", key=f"stop_{run.id}", on_click=run.stop)


def group_progress(group, what: str) -> None:
    """Progress, stop button and failures of a RunGroup, a line per run by its name (call it from the render of
    follow())."""
    if group.active:
        parts = [f"{r.name}: " + (waiting(r) or f"epoch {min(r.epoch + 1, r.config.epochs)}/{r.config.epochs}")
                 for r in group if r.active]
        done = sum(not r.active for r in group)
        st.progress(group.fraction, text=f"{what}: {done} of {len(group)} runs finished · " + " · ".join(parts))
        st.button("Stop", key=f"stop_{what}", on_click=group.stop)
    for r in group:
        if r.state == RunState.FAILED:
            st.error(f"{r.name}: {r.message}")
