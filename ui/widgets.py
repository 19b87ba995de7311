"""Widgets every page shares: the sidebar model picker with upload, and crisp enlarged images."""
from __future__ import annotations

import base64
import hashlib
import io
from pathlib import Path

import numpy as np
import streamlit as st
import torch
from PIL import Image

from vae_core import Checkpoint, VAEError, evaluate, load_checkpoint, save_checkpoint

from . import resources, state


def label(path: str) -> str:
    """One line per model: name, dataset, latent size, beta and test negative ELBO."""
    try:
        return _label(path, resources.stamp(path))
    except VAEError:
        return f"{Path(path).name} (unreadable)"


@st.cache_data(max_entries=256, show_spinner=False)
def _label(path: str, stamp: float) -> str:
    # Cached apart from the models: listing many saved runs must not cycle their weights through memory.
    checkpoint = load_checkpoint(path)
    c, nelbo = checkpoint.config, checkpoint.metrics.get("nelbo")
    score = f" · {nelbo:.1f} nats" if nelbo is not None else ""
    return f"{Path(path).name.removesuffix('.safetensors')} · {c.dataset} · z={c.latent_dim} · β={c.beta:g}{score}"


PAGES = [  # (script, label, icon) in the order a course would visit them; Material icons ship with Streamlit
    ("app.py", "Home", ":material/home:"), ("pages/1_Latent_sliders.py", "Latent sliders", ":material/tune:"),
    ("pages/2_Latent_map.py", "Latent map", ":material/scatter_plot:"),
    ("pages/3_Interpolation.py", "Interpolation", ":material/swap_horiz:"),
    ("pages/4_Train.py", "Train", ":material/model_training:"),
    ("pages/5_Latent_pad.py", "Latent pad", ":material/touch_app:"),
    ("pages/6_KL_trade-off.py", "KL trade-off", ":material/balance:"),
    ("pages/7_Beta_sweep.py", "Beta sweep", ":material/show_chart:"),
    ("pages/8_Warm-up_and_free_bits.py", "Warm-up and free bits", ":material/local_fire_department:"),
]


def model_picker() -> Checkpoint:
    """Render the sidebar (pages, then the model picker; every page calls it first) and return the chosen
    checkpoint. The checkpoint is cached and shared between sessions: read it, never train or edit it.
    """
    with st.sidebar:
        for script, page_label, icon in PAGES:
            st.page_link(script, label=page_label, icon=icon)
        st.divider()
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
        c = checkpoint.config
        m = checkpoint.metrics
        score = (f" Test −ELBO {m['nelbo']:.2f} = reconstruction {m['recon']:.2f} + KL {m['kl']:.2f} nats."
                 if {"nelbo", "recon", "kl"} <= set(m) else "")
        trained = f"{len(checkpoint.history)} epochs on" if checkpoint.history else "trained on"
        st.caption(f"{c.arch.upper()} {'-'.join(map(str, c.hidden))}, latent {c.latent_dim}, β={c.beta:g}, "
                   f"{trained} {c.dataset}.{score}")
        _upload()
        _open_saved_run()
    return checkpoint


def add_model(path: str) -> None:
    """Make a checkpoint this session's choice, and list it in this session's picker."""
    if path not in st.session_state[state.MY_MODELS]:
        st.session_state[state.MY_MODELS].append(path)
    st.session_state[state.MODEL] = path


def _upload() -> None:
    upload = st.file_uploader("Upload a checkpoint (.safetensors)", type=["safetensors"], key="model_upload")
    if upload is None:
        return
    data = upload.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    # The upload becomes a checkpoint folder named after the file, scored on its test set when we have it.
    folder = resources.runs_dir() / "uploads" / digest / Path(upload.name).stem
    refused = st.session_state.setdefault("_refused_uploads", {})  # digest -> message: checked once
    if digest in refused:
        st.error(refused[digest])
        return
    if str(folder) in st.session_state[state.MY_MODELS]:
        return
    received = folder.parent / "received.safetensors"
    received.parent.mkdir(parents=True, exist_ok=True)
    received.write_bytes(data)
    try:
        checkpoint = load_checkpoint(received)
    except VAEError as e:
        refused[digest] = f"{upload.name} refused: {str(e).replace(str(received), upload.name)}"
        st.error(refused[digest])
        return
    finally:
        received.unlink(missing_ok=True)
    try:
        test_x = resources.dataset(checkpoint.config.dataset).test_x
        metrics = evaluate(checkpoint.model, test_x, seed=checkpoint.config.seed)
    except VAEError:
        metrics = {}  # its test images are not here: the model still works, unscored
    save_checkpoint(checkpoint.model, folder, [], metrics)
    add_model(str(folder))
    st.rerun()


def _open_saved_run() -> None:
    runs = [r for r in resources.saved_runs() if r not in st.session_state[state.MY_MODELS]]
    if not runs:
        return
    with st.expander("Open a saved run"):
        choice = st.selectbox("Saved runs", runs, index=None, format_func=label, key="open_saved_run",
                              placeholder="runs/ on this machine")
        if choice and st.button("Open", key="open_saved_run_button"):
            add_model(choice)
            st.rerun()


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


def sweep_progress(job, what: str) -> None:
    """Progress, stop button and outcome of a SweepJob; call it from an st.fragment(run_every=...)."""
    if job.running:
        current = next((j for j in job.jobs if j.running), None)
        detail = f" · β={current.config.beta:g}, epoch {current.epoch + 1}/{current.config.epochs}" if current else ""
        st.progress(job.fraction, text=f"{what}: {sum(j.state != 'pending' for j in job.jobs)}"
                                       f" of {len(job.jobs)} runs{detail}")
        st.button("Stop", key=f"stop_{what}", on_click=job.stop)
    for j in job.jobs:
        if j.state == "failed":
            st.error(f"β={j.config.beta:g}: {j.message}")
