"""Latent sliders: one slider per latent dimension, the decoded image following every change."""
import streamlit as st
import torch

from ui import resources, state, widgets
from vae_core.evaluation import as_images, decode_images, dimensions_by_kl, image_grid, traversal

SHOWN = 8  # sliders shown before the rest fold away
RANGE = 4.0

st.set_page_config(page_title="Latent sliders · VAE lab", page_icon="🎚️", layout="wide")
checkpoint = widgets.model_picker()
model, config = checkpoint.model, checkpoint.config
dims = dimensions_by_kl(checkpoint.metrics, config.latent_dim)
keys = [f"sliders_z{i}" for i in range(config.latent_dim)]


def set_point(z) -> None:
    z = [max(-RANGE, min(RANGE, round(float(v), 2))) for v in z]
    st.session_state[state.LATENT] = z
    st.session_state.update(dict(zip(keys, z)))


def sync() -> None:
    """A slider moved: our key follows (callbacks run before the script, so the page sees the new point)."""
    st.session_state[state.LATENT] = [st.session_state[k] for k in keys]


if len(st.session_state.get(state.LATENT, [])) != config.latent_dim:
    set_point([0.0] * config.latent_dim)
# Widget values are dropped on page switches, and other pages may move the point: our key leads.
st.session_state.update(dict(zip(keys, st.session_state[state.LATENT])))

st.title("Latent sliders")
st.caption("Each slider is one coordinate of z; the image is the decoder's Bernoulli means for that z. "
           "Dimensions are ordered by how much information they carry (their test KL).")

start, prior, reset = st.columns([3, 1, 1], vertical_alignment="bottom")
with start:
    data = resources.dataset_or_explain(config.dataset, "Starting from a real image")
    if data is not None:
        number, preview = st.columns([5, 1], vertical_alignment="bottom")
        index = number.number_input(f"Test image (0-{len(data.test_x) - 1})", 0, len(data.test_x) - 1, 0,
                                    key="sliders_image")
        with preview:
            widgets.thumbnail(as_images(data.test_x[int(index)], config.image_shape)[0])
        if st.button("Start from its posterior mean", key="sliders_from_image"):
            mu, _ = resources.encodings(st.session_state[state.MODEL])
            set_point(mu[int(index)])
prior.button("Sample from the prior", key="sliders_prior",
             on_click=lambda: set_point(torch.randn(config.latent_dim).tolist()))
reset.button("Reset to zero", key="sliders_reset", on_click=lambda: set_point([0.0] * config.latent_dim))


@st.fragment
def explorer():
    """Only this block reruns when a slider moves."""
    controls, picture = st.columns([2, 3])
    with controls:
        for i in dims[:SHOWN]:
            st.slider(f"z{i}", -RANGE, RANGE, step=0.01, key=keys[i], on_change=sync)
        if len(dims) > SHOWN:
            with st.expander(f"{len(dims) - SHOWN} less active dimensions"):
                for i in dims[SHOWN:]:
                    st.slider(f"z{i}", -RANGE, RANGE, step=0.01, key=keys[i], on_change=sync)
    z = torch.tensor(st.session_state[state.LATENT])
    with picture:
        widgets.show_image(decode_images(model, z)[0], size=336, caption="decoded z")
    st.subheader("Traversals")
    st.caption("Each row sweeps one dimension from -3 to 3 with the others held at the sliders' values: "
               + ", ".join(f"row {r + 1} z{i}" for r, i in enumerate(dims)) + ".")
    rows = torch.cat([traversal(z, i) for i in dims])
    widgets.show_image(image_grid(decode_images(model, rows), nrow=9), size=720)


explorer()
