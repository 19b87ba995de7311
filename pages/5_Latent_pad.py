"""Latent pad: drag a point over two latent dimensions, decoded in the browser on every animation frame."""
import streamlit as st

from ui import resources, state, widgets
from ui.latent_pad import EXTENT, latent_pad
from vae_core.evaluation import as_images, dimensions_by_kl

st.set_page_config(page_title="Latent pad · VAE lab", page_icon="🕹️", layout="wide")
checkpoint = widgets.model_picker()
model, config = checkpoint.model, checkpoint.config
names = [f"z{i}" for i in range(config.latent_dim)]


def set_point(z) -> None:
    st.session_state[state.LATENT] = [max(-EXTENT, min(EXTENT, float(v))) for v in z]


st.title("Latent pad")
st.caption("Drag the handle with the mouse or a finger: your browser decodes the point from the model's own "
           "weights on every animation frame, so the digit morphs while you move. Where you let go becomes the "
           "point the sliders and interpolation pages start from. Behind the handle: the test images' posterior "
           "means, coloured by label.")
if config.latent_dim < 2:
    st.info("The pad spans two latent dimensions and this model has one: use the Latent sliders page.")
    st.stop()
if len(st.session_state.get(state.LATENT, [])) != config.latent_dim:
    set_point([0.0] * config.latent_dim)

dims = (0, 1)
order = dimensions_by_kl(checkpoint.metrics, config.latent_dim)
if config.latent_dim > 2:
    x_col, y_col = st.columns(2)
    dims = (x_col.selectbox("Horizontal axis", range(config.latent_dim), index=order[0],
                            format_func=names.__getitem__, key="pad_dim_x"),
            y_col.selectbox("Vertical axis", range(config.latent_dim), index=order[1],
                            format_func=names.__getitem__, key="pad_dim_y"))
    if dims[0] == dims[1]:
        st.info("Choose two different dimensions for the pad's axes.")
        st.stop()
    st.caption("The other dimensions stay at the current point (the sliders page's); the sliders below the pad "
               "move any of them, decoded live as well.")

image_col, reset_col = st.columns([3, 1], vertical_alignment="bottom")
with image_col:
    data = resources.dataset_or_explain(config.dataset, "The background scatter and starting from a test image")
    if data is not None:
        mu, _ = resources.encodings(st.session_state[state.MODEL])
        number, preview = st.columns([5, 1], vertical_alignment="bottom")
        index = number.number_input(f"Test image (0-{len(mu) - 1})", 0, len(mu) - 1, 0, key="pad_image")
        with preview:
            widgets.thumbnail(as_images(data.test_x[int(index)], config.image_shape)[0])
        if st.button("Start from its posterior mean", key="pad_from_image"):
            set_point(mu[int(index)])
reset_col.button("Reset to zero", key="pad_reset", on_click=lambda: set_point([0.0] * config.latent_dim))

background = None if data is None else (mu[:, list(dims)], data.test_y.numpy())
latent_pad(model, st.session_state[state.LATENT], key="pad", dims=dims, order=order, background=background,
           classes=data.classes if data is not None else (), on_release=set_point)
st.caption("Saved for the other pages: z = (" + ", ".join(f"{v:.2f}" for v in st.session_state[state.LATENT]) + ")")
