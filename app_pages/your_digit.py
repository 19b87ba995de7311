"""Your digit: draw one, see it preprocessed as the model's data was, where the encoder puts it, what it decodes
to, what it costs in nats, and its nearest test images; start the sliders, the pad or an interpolation from it."""
import streamlit as st

from ui import charts, images, navigation, panels, resources, sidebar, state
from ui.decoder import decoded_grid
from ui.drawing import drawing_pad
from vae_core import VAEError
from vae_core.drawing import preprocess, read_drawing
from vae_core.evaluation import as_images, image_grid, nearest, posterior_on_plane
from vae_core.tradeoff import objective_parts

checkpoint = sidebar.current()
model, config, path = checkpoint.model, checkpoint.config, st.session_state[state.MODEL]
st.title("Your digit")
st.caption("Draw a digit with the mouse, a pen or a finger. It is preprocessed the way the chosen model's data "
           "was made, encoded into its own posterior q(z|x), and scored term by term like a test image.")

pad, seen, decoded = st.columns(3)
kept = st.session_state.get(state.KEPT_DRAWING)
kept_x = preprocess(read_drawing(kept), config.dataset) if kept is not None else None  # (checked when it was kept)
with pad:
    drawn = drawing_pad(key="digit_pad", clear=st.session_state.get(state.DIGIT_PAD_CLEARS, 0))
    if kept_x is not None:
        thumb, forget = st.columns([1, 2], vertical_alignment="center")
        with thumb:
            images.show_image(as_images(kept_x, config.image_shape)[0], 84)
        forget.caption("your kept drawing, as the model sees it (the open star on the map below)")
        if forget.button("Forget it", key="digit_forget"):
            del st.session_state[state.KEPT_DRAWING]
            st.rerun()
if drawn is not None:
    st.session_state[state.DRAWING] = drawn
if drawn is None:
    st.info("Draw a second digit in the box, then interpolate between your two drawings." if kept is not None else
            "Draw a digit in the box (white ink on black, like the data). Each stroke updates everything below.")
    st.stop()
try:
    x = preprocess(read_drawing(drawn), config.dataset)
except VAEError as e:
    st.warning(str(e))
    st.stop()
with seen:
    images.show_image(as_images(x, config.image_shape)[0], 280,
                       f"what the model sees: {config.image_shape[1]}x{config.image_shape[2]}, preprocessed as "
                       f"{config.dataset}'s images were")
parts = objective_parts(model, x)
with decoded:
    decoded_grid(model, [parts.mu], key="digit_recon", nrow=1, width=280,
                 caption="its reconstruction: the decoded posterior mean", download="your-digit-reconstruction.png")

st.subheader("What it costs")
panels.model_objective(parts, config)

data = resources.dataset_or_explain(config.dataset, "Placing it among the test images")
if data is not None:
    st.subheader("Where the encoder puts it")
    mu, _ = resources.encodings(path)
    method = "means" if config.latent_dim <= 2 else "pca"
    index, xy = resources.projection(path, method)
    plane = () if method == "means" else resources.pca(path)
    titles = ("z0", "z1") if method == "means" else ("PCA 1", "PCA 2")
    also = None
    if kept_x is not None:
        kept_parts = objective_parts(model, kept_x)
        also = (posterior_on_plane(kept_parts.mu, kept_parts.sigma, *plane)[0], "your kept drawing")
    posterior = posterior_on_plane(parts.mu, parts.sigma, *plane)
    fig = charts.latent_map(xy, data.test_y.numpy()[index], index, data.classes, titles,
                            posterior=posterior, mark="your digit", also=also)
    st.plotly_chart(fig, key="digit_map", width="stretch")
    hidden = charts.spread_under_star(xy, posterior)
    st.caption("The star is its posterior mean, the ellipses its 1 and 2 σ spread" +
               (" projected onto the map's PCA plane" if plane else "") +
               (f" (here at most σ = {hidden:.2g}: both lie under the star, so sure is the encoder of where it "
                "goes; zoom in with the chart's toolbar to see them)" if hidden is not None else "") +
               ("; the open star your kept drawing's posterior mean." if also is not None else "."))
    close = nearest(mu, parts.mu, 8)
    st.subheader("Its nearest test images in latent space")
    images.show_image(image_grid(as_images(data.test_x[close], config.image_shape), nrow=8), 640,
                       "labels: " + ", ".join(data.classes[int(data.test_y[i])] for i in close))

st.subheader("Start from it")
a, b, c, d = st.columns(4)
if a.button("The sliders", key="digit_to_sliders"):
    state.set_latent_point(parts.mu)
    st.switch_page(navigation.SLIDERS.script)
if b.button("The latent pad", key="digit_to_pad", disabled=config.latent_dim < 2):
    state.set_latent_point(parts.mu)
    st.switch_page(navigation.PAD.script)
if c.button("Interpolate to a test image", key="digit_to_interp"):
    st.session_state[state.INTERP_ENDS] = ("your drawing", "a test image")
    st.switch_page(navigation.INTERPOLATION.script)
if kept is None:
    if d.button("Keep it, draw a second one", key="digit_keep", help="then interpolate between your two drawings"):
        st.session_state[state.KEPT_DRAWING] = drawn
        st.session_state[state.DIGIT_PAD_CLEARS] = st.session_state.get(state.DIGIT_PAD_CLEARS, 0) + 1
        st.rerun()
elif d.button("Between your two drawings", key="digit_between", help="interpolate from your kept drawing to this one"):
    st.session_state[state.INTERP_ENDS] = ("your kept drawing", "your drawing")
    st.switch_page(navigation.INTERPOLATION.script)
