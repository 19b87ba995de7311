"""Latent pad: drag a point over two latent dimensions, decoded in the browser on every animation frame."""
import streamlit as st

from ui import links, pickers, resources, sidebar, state
from ui.decoder import MOST_SLIDERS, latent_pad
from vae_core.evaluation import dimensions_by_kl

HIDDEN_REACH = 0.2  # test means all within this of the origin are hidden under the pad's handle

checkpoint = sidebar.current()
model, config = checkpoint.model, checkpoint.config

st.title("Latent pad")
st.caption("Drag the handle with the mouse or a finger: your browser decodes the point from the model's own "
           "weights on every animation frame, so the digit morphs while you move. Where you let go becomes the "
           "point the sliders and interpolation pages start from. Behind the handle: the test images' posterior "
           "means, coloured by label.")
if config.latent_dim < 2:
    st.info("The pad spans two latent dimensions and this model has one: use the Latent sliders page.")
    st.stop()

dims = (0, 1)
order = dimensions_by_kl(checkpoint.metrics, config.latent_dim)
if config.latent_dim > 2:
    x_col, y_col = st.columns(2)
    axes = order[:MOST_SLIDERS]  # the most informative dimensions can be axes
    linked = links.take_axes(axes)
    if linked:
        st.session_state.update(zip(state.PAD_AXES, linked))
    for key, default in zip(state.PAD_AXES, axes):  # the first two by default, set in the state (a widget given a
        if st.session_state.get(key) not in axes:     # default as well as a link's value warns); another model's
            st.session_state[key] = default           # axis is not this one's
    dims = (x_col.selectbox("Horizontal axis", axes, format_func="z{}".format, key=state.PAD_AXES[0]),
            y_col.selectbox("Vertical axis", axes, format_func="z{}".format, key=state.PAD_AXES[1]))
    if dims[0] == dims[1]:
        st.info("Choose two different dimensions for the pad's axes.")
        links.drop("axes")  # (the last two different ones stayed in the address bar)
        st.stop()
    links.write("axes", dims)
    st.caption("The other dimensions stay at the current point (the sliders page's); the sliders below the pad "
               "move any of them, decoded live as well.")
else:
    links.take_no_axes(config.latent_dim)

data = resources.dataset_or_explain(config.dataset, "The background scatter and starting from a test image")
if data is not None:
    mu, _ = resources.encodings(st.session_state[state.MODEL])
    index = pickers.test_image_picker(data, "pad_image")
buttons = st.container(horizontal=True, wrap=True)  # (in columns, 800 px cut one to "Reset to z…")
if data is not None and buttons.button("Start from its posterior mean", key="pad_from_image"):
    state.set_latent_point(mu[index])
buttons.button("Reset to zero", key="pad_reset", on_click=lambda: state.set_latent_point([0.0] * config.latent_dim))

background = None if data is None else (mu[:, list(dims)], data.test_y.numpy())
latent_pad(model, state.latent_point(config.latent_dim), key="pad", dims=dims, order=order, background=background,
           classes=data.classes if data is not None else (), on_release=state.set_latent_point)
if background is not None and config.latent_dim > 2:
    st.caption(f"The dots are the test images' means seen along z{dims[0]} and z{dims[1]} alone: each keeps its own "
               f"values in the other {config.latent_dim - 2} dimensions, where the pad keeps the current point's, so "
               "the digit decoded over a dot need not be that dot's label.")
# all the dots under the handle, with no word (digits-8d-mean-recon's means lie within 0.01 of the origin)
if background is not None and (reach := float(abs(background[0]).max())) < HIDDEN_REACH:
    active = resources.test_metrics(st.session_state[state.MODEL])["active_units"]
    st.warning(f"All the test images' means lie within {reach:.2g} of the origin on these axes: their dots sit "
               f"under the handle, on a pad ±{state.RANGE:g} wide. Every image gets nearly the same q(z|x) "
               f"({active} of {config.latent_dim} units active), so the pad shows what the decoder makes of z, not "
               "where images are coded.")
z = state.latent_point(config.latent_dim)
st.caption("Saved for the other pages: z = (" + ", ".join(f"{v:.2f}" for v in z[:16]) + (", …" if len(z) > 16 else "")
           + ")")
