"""Interpolation: walk the latent space between two test images, straight and along the great circle."""
import streamlit as st

from ui import resources, state, widgets
from ui.decoder import decoded_grid
from vae_core.evaluation import as_images, image_grid, lerp, pixel_blend, slerp

checkpoint = widgets.current()
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

use_point = st.toggle("Start from the sliders' (or the pad's) point instead", key="interp_from_sliders")
a_col, b_col, steps_col = st.columns(3)
with a_col:
    a = widgets.test_image_picker(data, "interp_a", "From test image", disabled=use_point)
with b_col:
    b = widgets.test_image_picker(data, "interp_b", "To test image", default=1)
steps = steps_col.slider("Steps", 3, 16, 10, key="interp_steps")

mu, _ = resources.encodings(st.session_state[state.MODEL])
z0 = state.latent_point(config.latent_dim) if use_point else mu[a]
z1 = mu[b]
ends = as_images(data.test_x[[a, b]], config.image_shape)
if use_point:
    a_col.caption("Not used: the path starts at the point " + ", ".join(f"{v:.2f}" for v in z0[:8])
                  + (", …" if len(z0) > 8 else ""))

for name, path in (("Linear", lerp(z0, z1, steps)), ("Spherical", slerp(z0, z1, steps))):
    st.subheader(f"{name} in latent space")
    decoded_grid(model, path, key=f"interp_{name.lower()}", nrow=steps, width=1100,
                 download=f"interpolation-{name.lower()}.png")

st.subheader("Blend in pixel space")
if use_point:
    st.caption("A latent point has no pixels of its own: the blend needs two test images. Turn the toggle off.")
else:
    widgets.show_image(image_grid(pixel_blend(ends[0], ends[1], steps), nrow=steps), size=1100)
