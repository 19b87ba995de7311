"""This session's state: every st.session_state key of the app in one place, and the current latent point.

Each browser session has its own values; nothing here is shared between sessions.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import streamlit as st

MODEL = "model_path"      # str: path of the chosen checkpoint (a folder or a .safetensors file)
MY_MODELS = "my_models"   # list[str]: checkpoints this session trained, uploaded or opened by a link
LATENT = "latent_point"   # list[float]: the current latent point (see latent_point / set_latent_point)
JOB = "training_job"      # vae_core.runs.Run: this session's training run, at most one
SWEEP = "sweep_job"       # vae_core.runs.RunGroup: this session's own beta sweep (digits or MNIST)
COMPARE = "compare_job"   # vae_core.runs.RunGroup: this session's warm-up / free-bits comparison runs
SWEEP_CHOSEN = "sweep_chosen"    # str: path of the model clicked on the rate-distortion plane
MAP_CHOSEN = "map_chosen"        # (model path, test index): the point clicked on the latent map
SLIDERS_IMAGE = "sliders_image"  # int: the Latent sliders page's test image (its picker's key)
DRAWING = "drawing"              # bytes: the PNG of the digit drawn on the Your digit page, as drawn
KEPT_DRAWING = "kept_drawing"    # bytes: an earlier drawing kept, to interpolate between two drawings
INTERP_ENDS = "interp_ends"      # (from, to): where the Interpolation page's path starts and ends (ENDS)
UPLOADS = "uploads"      # dict: uploaded file id -> its checkpoint folder, or the error it was refused with
OWNER = "owner"          # str: this browser's token, kept in a cookie (ui.my_runs)
DIGIT_PAD_CLEARS = "digit_pad_clears"  # int: raised to empty the Your digit page's drawing pad (ui.drawing)

# Widgets whose value the app also sets (from a link, or from another page); the widget's key is the state key
MODEL_PICKER = "_model_picker"     # the sidebar's picker (its value is copied to MODEL: page switches drop it)
TRADEOFF_BETA = "tradeoff_beta"    # the KL trade-off page's β slider (a link's beta=)
PAD_AXES = ("pad_dim_x", "pad_dim_y")  # the Latent pad page's horizontal and vertical axis (a link's axes=)
INTERP_FROM, INTERP_TO = "interp_from", "interp_to"  # the Interpolation page's ends (ENDS; the Your digit buttons)
SLIDERS_GIF_DIM = "sliders_gif_dim"  # the Latent sliders page's GIF dimension (reset for each model: per_model)
PER_MODEL = "_per_model"  # dict: widget key -> the model its value was chosen for (per_model)

# Links (ui.links)
LINK_WRITTEN = "_link_written"  # dict: what this session last put in the query string
LINK_PENDING = "_link_pending"  # dict: page parameters from a link, not yet taken by their page
LINK_PAGE = "_link_page"        # str: the page the last run showed

RANGE = 4.0   # every control over a latent coordinate spans [-RANGE, RANGE]: the sliders, the pad
DECIMALS = 2  # and moves it in steps of 0.01


def list_model(path: str) -> None:
    """List a checkpoint in this session's picker (once), without choosing it."""
    mine = st.session_state.setdefault(MY_MODELS, [])
    if path not in mine:
        mine.append(path)


def add_model(path: str) -> None:
    """Make a checkpoint this session's choice, and list it in this session's picker."""
    list_model(path)
    st.session_state[MODEL] = path


def chosen(path) -> bool:
    """Whether the checkpoint at path (None: no checkpoint) is this session's choice, under this path or another."""
    return path is not None and Path(path).resolve() == Path(st.session_state[MODEL]).resolve()


def listed(path) -> bool:
    """Whether the checkpoint at path is in this session's picker already (under this path or another for the same
    folder: a reload lists this browser's runs by their resolved paths)."""
    target = Path(path).resolve()
    return any(Path(p).resolve() == target for p in st.session_state.get(MY_MODELS, []))


def latent_point(latent_dim: int) -> list[float]:
    """The session's current latent point for a model with latent_dim dimensions (the origin if it has none
    of that size yet): where the sliders, the pad and the interpolation start."""
    z = st.session_state.get(LATENT)
    if z is None or len(z) != latent_dim:
        z = set_latent_point([0.0] * latent_dim)
    return list(z)


def set_latent_point(z: Sequence[float]) -> list[float]:
    """Make z the session's latent point, rounded to the controls' step and clamped into their range (a
    posterior mean far out on the map still lands on the sliders' edge, not outside it; -0.004 becomes 0, not
    -0)."""
    z = [min(RANGE, max(-RANGE, round(float(v), DECIMALS))) + 0.0 for v in z]
    st.session_state[LATENT] = z
    return z


def per_model(key: str, default) -> None:
    """Set the widget under key to default whenever the session's model is another than the one its value was
    chosen for: a choice that suits one model (its most informative dimension, say) means nothing for the next."""
    owners = st.session_state.setdefault(PER_MODEL, {})
    if owners.get(key) != st.session_state[MODEL]:
        owners[key] = st.session_state[MODEL]
        st.session_state[key] = default


ENDS = ("a test image", "the current point", "your drawing", "your kept drawing")  # an interpolation's ends
