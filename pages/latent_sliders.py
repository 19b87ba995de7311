"""Latent sliders: one slider per latent dimension (most informative first), the decoded image following."""
import streamlit as st

from ui import resources, state, widgets
from vae_core.evaluation import decode_images, dimensions_by_kl, image_grid, prior_point, traversals

SHOWN = 8          # sliders shown before the rest fold away
MOST_SLIDERS = 64  # sliders at most; further dimensions keep their value
MOST_ROWS = 16     # traversal rows at most

checkpoint = widgets.current()
model, config = checkpoint.model, checkpoint.config
dims = dimensions_by_kl(checkpoint.metrics, config.latent_dim)
keys = [f"sliders_z{i}" for i in range(config.latent_dim)]
# Widget values are dropped on page switches, and other pages move the point: the session's point leads.
point = state.latent_point(config.latent_dim)
st.session_state.update({keys[i]: point[i] for i in dims[:MOST_SLIDERS]})

st.title("Latent sliders")
st.caption("Each slider is one coordinate of z; the image is the decoder's Bernoulli means for that z. "
           "Dimensions are ordered by how much information they carry (their test KL).")

start, prior, reset = st.columns([3, 1, 1], vertical_alignment="bottom")
with start:
    data = resources.dataset_or_explain(config.dataset, "Starting from a real image")
    if data is not None:
        index = widgets.test_image_picker(data, "sliders_image")
        if st.button("Start from its posterior mean", key="sliders_from_image"):
            state.set_latent_point(resources.encodings(st.session_state[state.MODEL])[0][index])
            st.rerun()
prior.button("Sample from the prior", key="sliders_prior",
             on_click=lambda: state.set_latent_point(prior_point(config.latent_dim)))
reset.button("Reset to zero", key="sliders_reset", on_click=lambda: state.set_latent_point([0.0] * config.latent_dim))


def moved(i: int) -> None:
    """A slider moved: the session's point follows (callbacks run before the script sees the new value)."""
    z = state.latent_point(config.latent_dim)
    z[i] = st.session_state[keys[i]]
    state.set_latent_point(z)


@st.fragment
def explorer():
    """Only this block reruns when a slider moves."""
    controls, picture = st.columns([2, 3])
    with controls:
        for i in dims[:SHOWN]:
            st.slider(f"z{i}", -state.RANGE, state.RANGE, step=0.01, key=keys[i], on_change=moved, args=(i,))
        if len(dims) > SHOWN:
            with st.expander(f"{min(len(dims), MOST_SLIDERS) - SHOWN} less active dimensions"):
                for i in dims[SHOWN:MOST_SLIDERS]:
                    st.slider(f"z{i}", -state.RANGE, state.RANGE, step=0.01, key=keys[i], on_change=moved, args=(i,))
        if len(dims) > MOST_SLIDERS:
            st.caption(f"{len(dims) - MOST_SLIDERS} further dimensions, the least informative, have no slider: "
                       "they keep their values.")
    z = state.latent_point(config.latent_dim)
    with picture:
        widgets.show_image(decode_images(model, z)[0], size=336, caption="decoded z")
    rows = dims[:MOST_ROWS]
    st.subheader("Traversals")
    st.caption("Each row sweeps one dimension from -3 to 3 with the others held at the sliders' values: "
               + ", ".join(f"row {r + 1} z{i}" for r, i in enumerate(rows)) + "."
               + (f" The {len(dims) - len(rows)} less informative dimensions are not shown." if len(dims) > len(rows) else ""))
    widgets.show_image(image_grid(decode_images(model, traversals(z, rows)), nrow=9), size=720)


explorer()
