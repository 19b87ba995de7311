"""Interpolation: walk the latent space between two test images, straight and along the great circle."""
import streamlit as st
import torch

from ui import resources, state, widgets
from vae_core.evaluation import as_images, decode_images, image_grid, lerp, pixel_blend, slerp

st.set_page_config(page_title="Interpolation · VAE lab", page_icon="↔️", layout="wide")
checkpoint = widgets.model_picker()
model, config = checkpoint.model, checkpoint.config

st.title("Interpolation")
st.caption("Decoded points on a path between two posterior means. In many dimensions almost all of N(0, I)'s "
           "mass lies near the sphere of radius √D, and the middle of a straight line between two typical points "
           "is shorter than both: an untypical z. The spherical path turns the direction along the great circle "
           "and changes the length evenly, so it stays at typical norms (in 2-D the two paths differ little). "
           "The pixel-space blend at the bottom shows what mixing images without a latent space looks like.")
data = resources.dataset_or_explain(config.dataset, "Interpolating between test images")
if data is None:
    st.stop()

last = len(data.test_x) - 1
use_point = st.toggle("Start from the sliders' (or the pad's) point instead", key="interp_from_sliders",
                      disabled=len(st.session_state.get(state.LATENT, [])) != config.latent_dim)
a_col, b_col, steps_col = st.columns(3)
a = a_col.number_input(f"From test image (0-{last})", 0, last, 0, key="interp_a", disabled=use_point)
b = b_col.number_input(f"To test image (0-{last})", 0, last, 1, key="interp_b")
steps = steps_col.slider("Steps", 3, 16, 10, key="interp_steps")

mu, _ = resources.encodings(st.session_state[state.MODEL])
z0 = torch.tensor(st.session_state[state.LATENT]) if use_point else torch.from_numpy(mu[int(a)])
z1 = torch.from_numpy(mu[int(b)])
ends = as_images(data.test_x[[int(a), int(b)]], config.image_shape)
with a_col:
    widgets.show_image(ends[0], 84, f"test image {int(a)}" if not use_point else "not used: the path starts at the point")
with b_col:
    widgets.show_image(ends[1], 84, f"test image {int(b)}")

for name, path in (("Linear", lerp(z0, z1, steps)), ("Spherical", slerp(z0, z1, steps))):
    st.subheader(f"{name} in latent space")
    widgets.show_image(image_grid(decode_images(model, path), nrow=steps), size=1100)

st.subheader("Blend in pixel space")
if use_point:
    st.caption("A latent point has no pixels of its own: the blend needs two test images. Turn the toggle off.")
else:
    widgets.show_image(image_grid(pixel_blend(ends[0], ends[1], steps), nrow=steps), size=1100)
