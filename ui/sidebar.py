"""The sidebar: the model picker (shipped models, this session's runs and uploads), the chosen model's summary,
its download, the checkpoint upload, and opening a run saved on this machine."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import streamlit as st

from vae_core import Checkpoint, VAEError
from vae_core.checkpoint import import_checkpoint, run_tag, shown_name, upload_name, zip_checkpoint
from vae_core.evaluation import shown_total
from vae_core.records import beta_text, lr_text

from . import my_runs, resources, state

RUN_DATE = re.compile(r"\d{8}-(?=\d{6}-)")  # how a run's folder name begins: its date, then its time
NAME_CHARACTERS = 34  # what the picker shows whole in the sidebar's 340 px (app.py); a longer name loses its middle


def label(path: str) -> str:
    """One line per model: name, dataset, latent size, beta and test negative ELBO."""
    try:
        return resources.summary(path).label
    except VAEError:
        return f"{Path(path).name} (unreadable)"


def short_label(path: str, tag: str = "") -> str:
    """The model's name alone, short enough for the sidebar's picker to show whole (its dataset, latent size, β
    and score are in the caption below it): a member of a shipped sweep is named by its sweep. A tag follows the
    name (short_labels)."""
    try:
        summary = resources.summary(path)
    except VAEError:
        return f"{Path(path).name} (unreadable)"
    if summary.path.parent.parent == resources.SWEEPS_DIR:  # models/sweeps/<dataset>/beta-<beta>
        return f"{summary.path.parent.name} sweep, β={summary.config.beta:g}"
    # (an upload's name is as long as its file's)
    name = shown_name(summary.name, summary.config.beta) + (f" #{tag}" if tag else "")
    if len(name) > NAME_CHARACTERS and (date := RUN_DATE.match(name)):  # a run's date goes first: its middle, cut,
        name = name[date.end():]  # was its settings ("20261206-230941-di…ts-z2-beta0.5→8")
    return name if len(name) <= NAME_CHARACTERS else f"{name[:NAME_CHARACTERS - 16]}…{name[-15:]}"


def short_labels(paths) -> dict[str, str]:
    """short_label of each path, where two read alike (a lecturer who opened two students' links to runs started in
    one second with the same settings) each tagged with the start of its run's random part: "… #5f1c"."""
    labels = {p: short_label(p) for p in paths}
    alike = Counter(labels.values())
    return {p: short_label(p, run_tag(p)) if alike[text] > 1 else text for p, text in labels.items()}


def pickable() -> list[str]:
    """The models a session can choose, each once: the shipped ones, its own (runs, uploads, links' models), its
    choice, then the shipped sweeps' members (a lecturer's "choose β = 0.1" found them only on the Beta sweep
    page)."""
    swept = [p for paths in resources.shipped_sweeps().values() for p in paths]
    return list(dict.fromkeys(resources.shipped_models() + st.session_state[state.MY_MODELS]
                              + [st.session_state[state.MODEL]] + swept))


def model_picker() -> Checkpoint:
    """Render the sidebar's model picker (app.py does, below the page list) and return the chosen checkpoint.

    The checkpoint is cached and shared between sessions: read it, never train or edit it.
    """
    st.session_state.setdefault(state.MY_MODELS, [])
    st.session_state.setdefault(state.MODEL, str(resources.DEFAULT_MODEL))
    # each once: a link to a shipped model makes it this session's choice, and so one of its models too (a lesson's
    # steps listed each model they opened a second time)
    options = pickable()
    with st.sidebar:
        st.header("Model")
        # The widget's own key is dropped on page switches; our key keeps the choice.
        st.session_state[state.MODEL_PICKER] = st.session_state[state.MODEL]
        st.selectbox("Model", options, key=state.MODEL_PICKER, format_func=short_labels(options).get,
                     label_visibility="collapsed",
                     on_change=lambda: st.session_state.update({state.MODEL: st.session_state[state.MODEL_PICKER]}))
        try:
            checkpoint = resources.model(st.session_state[state.MODEL])
        except VAEError as e:
            st.error(f"{resources.without_server_paths(str(e))}. Showing the default model instead.")
            st.session_state[state.MODEL] = str(resources.DEFAULT_MODEL)
            checkpoint = resources.model(st.session_state[state.MODEL])
        c, m = checkpoint.config, checkpoint.metrics
        score = (f" Test −ELBO {shown_total(m['recon'], m['kl']):.2f} = reconstruction {m['recon']:.2f} + KL "
                 f"{m['kl']:.2f} nats."
                 if {"nelbo", "recon", "kl"} <= set(m) else "")
        trained = f"{len(checkpoint.history)} epochs on" if checkpoint.history else "trained on"
        lr = lr_text(checkpoint.history)
        # a run's tag: two students' runs started in one second with the same settings have one name (a lecturer
        # with both links open could not tell which tab showed whose), and a student can say which is theirs
        tag = run_tag(st.session_state[state.MODEL])
        st.caption(f"{f'Run #{tag}: ' if tag else ''}{c.arch.upper()} {'-'.join(map(str, c.hidden))}, latent "
                   f"{c.latent_dim}, {beta_text(c, checkpoint.history)}{', ' + lr if lr else ''}, {trained} "
                   f"{c.dataset}.{score}")
        folder = Path(st.session_state[state.MODEL])
        if folder.is_dir():  # (the zip is made when clicked, on another thread: it gets the path, not the session)
            st.download_button("Download this model (.zip)", lambda: zip_checkpoint(folder), f"{folder.name}.zip",
                               "application/zip", key="download_model", on_click="ignore",
                               help="its checkpoint folder: weights, config and metrics; the uploader takes it back")
        _upload()
        my_runs.keep_cookie()
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
            with st.spinner(f"Checking {upload_name(upload.name)} and scoring it on its test images…"):
                seen[upload.file_id] = str(import_checkpoint(upload.getvalue(), upload.name, resources.runs_dir(),
                                                             test_images=lambda name: resources.dataset(name).test_x))
        except VAEError as e:
            seen[upload.file_id] = e
        else:
            my_runs.remember(seen[upload.file_id])
            state.add_model(seen[upload.file_id])
            st.rerun()
    if isinstance(seen[upload.file_id], VAEError):
        st.error(str(seen[upload.file_id]))


def _open_saved_run() -> None:
    runs = [r for r in resources.saved_runs() if r not in st.session_state[state.MY_MODELS]]
    if not runs:
        return
    with st.expander("Open a saved run"):
        choice = st.selectbox("Saved runs", runs, index=None, format_func=short_labels(runs).get, key="open_saved_run",
                              placeholder="runs/ on this machine")
        if choice and st.button("Open", key="open_saved_run_button"):
            state.add_model(choice)
            st.rerun()
