"""Latent sliders: one slider per latent dimension (most informative first), decoded in your browser as you drag."""
import streamlit as st

from ui import pickers, resources, sidebar, state
from ui.decoder import latent_sliders
from vae_core.evaluation import TRAVERSAL_VALUES, decode_images, dimensions_by_kl, prior_point, traversal
from vae_core.export import gif_bytes

MOST_ROWS = 16  # traversal rows at most

checkpoint = sidebar.current()
model, config = checkpoint.model, checkpoint.config
dims = dimensions_by_kl(checkpoint.metrics, config.latent_dim)

st.title("Latent sliders")
st.caption("Each slider is one coordinate of z; the image is the decoder's Bernoulli means for that z, decoded in "
           "your browser from the model's own weights while you drag. Dimensions are ordered by how much "
           "information they carry (their test KL). Where you let go becomes the point the other pages start from. "
           "Keys: the arrows step 0.01, Shift with an arrow 0.25.")

data = resources.dataset_or_explain(config.dataset, "Starting from a real image")
if data is not None:
    index = pickers.test_image_picker(data, state.SLIDERS_IMAGE)
buttons = st.container(horizontal=True, wrap=True)  # (in columns, 800 px cut them to "Samp…" and "Reset …")
if data is not None and buttons.button("Start from its posterior mean", key="sliders_from_image"):
    state.set_latent_point(resources.encodings(st.session_state[state.MODEL])[0][index])
buttons.button("Sample from the prior", key="sliders_prior",
               on_click=lambda: state.set_latent_point(prior_point(config.latent_dim)))
buttons.button("Reset to zero", key="sliders_reset",
               on_click=lambda: state.set_latent_point([0.0] * config.latent_dim))

latent_sliders(model, state.latent_point(config.latent_dim), key="sliders", order=dims,
               traversal_dims=dims[:MOST_ROWS], traversal_values=TRAVERSAL_VALUES, on_release=state.set_latent_point)

if config.latent_dim > MOST_ROWS:  # (34 of mnist-50d-binarized's went unsaid)
    kl = checkpoint.metrics.get("kl_per_dim")
    rest = f", with {sum(kl[d] for d in dims[MOST_ROWS:]):.2g} nats of test KL in all" if kl else ""
    st.caption(f"Traversals (and the animation below) are drawn for the {MOST_ROWS} dimensions of most test KL; the "
               f"other {config.latent_dim - MOST_ROWS} carry less{rest}.")
dim_col, gif_col = st.columns([1, 3], vertical_alignment="bottom")
state.per_model(state.SLIDERS_GIF_DIM, dims[0])
dim = dim_col.selectbox("Animate a traversal", dims[:MOST_ROWS], format_func="z{}".format, key=state.SLIDERS_GIF_DIM)
path = traversal(state.latent_point(config.latent_dim), dim)  # made now, decoded when clicked (another thread)
labels = [f"z{dim} = {v:g}" for v in TRAVERSAL_VALUES]  # on a slide, which value each frame shows
gif_col.download_button(f"Animated GIF of z{dim} from {TRAVERSAL_VALUES[0]:g} to {TRAVERSAL_VALUES[-1]:g}",
                        lambda: gif_bytes(decode_images(model, path), labels=labels), f"traversal-z{dim}.gif",
                        "image/gif", key="sliders_gif", on_click="ignore")
