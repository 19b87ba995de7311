"""Interpolation: walk the latent space between two points (test images, the current point, your drawings),
straight and along the great circle, with the norm of z along both paths."""
import streamlit as st

from ui import charts, images, links, pickers, resources, sidebar, state
from ui.decoder import decoded_grid
from vae_core.drawing import preprocess, read_drawing
from vae_core.evaluation import (decode_images, distance, image_grid, lerp, path_lengths, paths_apart, pixel_blend,
                                 slerp)
from vae_core.export import gif_bytes
from vae_core.tradeoff import objective_parts

checkpoint = sidebar.current()
model, config = checkpoint.model, checkpoint.config

st.title("Interpolation")
# (one account per model: a 2-D model's caption had stated the shell first and taken it back in a parenthesis,
# above a norm plot that rose from 0.4 to 1.0 without a dip)
SPHERICAL = ("The spherical path turns the direction along the great circle and changes the length evenly, so its "
             "norm goes straight from one end's to the other's: compare the two paths' norms below.")
if config.latent_dim > 3:
    paths_said = ("Where the two ends point apart, the straight line's middle is shorter than they are: in "
                  f"{config.latent_dim} dimensions almost all of N(0, I)'s mass lies near the sphere of radius "
                  f"√{config.latent_dim}, so that middle is an untypical z. " + SPHERICAL)
else:
    paths_said = (f"This model has {config.latent_dim} latent dimensions: too few for a shell. |z| under N(0, I) "
                  "spreads from near 0 to beyond 2 instead of gathering near one radius, and the origin is where it "
                  "is densest, so the straight path's middle, nearer the origin than its ends where they point "
                  "apart, is not untypical: where the two paths differ here, it is in the parts of the latent space "
                  "they cross (under the norms, for these two ends). " + SPHERICAL + " (Pick a 16-D model in the "
                  "sidebar to see the shell, where the straight path's middle is an untypical z.)")
st.caption(f"Decoded points on a path between two latent points. {paths_said} The pixel-space blend shows what "
           "mixing images without a latent space looks like.")
SAME_PATH = 0.25  # straight and spherical paths never further apart than this (the prior's sd is 1) coincide
data = resources.dataset_or_explain(config.dataset, "Interpolating between test images")
if data is None:
    st.stop()

drawings = {"your drawing": st.session_state.get(state.DRAWING), "your kept drawing": st.session_state.get(state.KEPT_DRAWING)}
available = [e for e in state.ENDS if e not in drawings or drawings[e] is not None]
start, end = st.session_state.pop(state.INTERP_ENDS, (None, None))  # set by the Your digit page's buttons
for key, wanted in ((state.INTERP_FROM, start), (state.INTERP_TO, end)):
    if wanted in available:
        st.session_state[key] = wanted
a_col, b_col, steps_col = st.columns(3)


def point_text(z: list[float], most: int = 6) -> str:
    """A point as its coordinates that are not 0, named (z7 = 2.01, z8 = −1.51, the other 14 at 0): the first six
    of sixteen hid the two that the pad had set on its chosen axes."""
    set_ = [(i, v) for i, v in enumerate(z) if round(v, 2) != 0]
    if not set_:
        return f"the origin (all {len(z)} coordinates at 0)"
    shown = ", ".join(f"z{i} = {v:.2f}" for i, v in set_[:most]) + (f", {len(set_) - most} more" if len(set_) > most
                                                                    else "")
    rest = len(z) - len(set_)
    return shown + (f", the other {rest} at 0" if rest > 1 else ", the other at 0" if rest else "")


def end_point(column, key: str, label: str, default: str, image: int):
    """(z, pixels or None, name) of one end of the path, as chosen in column."""
    with column:
        source = st.radio(label, available, index=available.index(default), key=key, horizontal=True,
                          persist_state="session")  # (a page switch and back lost both ends)
        link = "image" if key == state.INTERP_FROM else "to"  # (To's image was in no link: a reload lost it)
        if source == "a test image":
            index = pickers.test_image_picker(data, f"{key}_image", default=image, link=link)
            x = data.test_x[index]
            return resources.encodings(st.session_state[state.MODEL])[0][index], x, f"test image {index}"
        links.drop(link)  # (no test image at this end)
        if source == "the current point":
            z = state.latent_point(config.latent_dim)
            st.caption(f"the sliders' and the pad's point: {point_text(z)}")
            return z, None, "the current point"
        x = preprocess(read_drawing(drawings[source]), config.dataset)
        images.thumbnail(x.reshape(config.image_shape[1:]), 56)
        return objective_parts(model, x).mu, x, source


z0, x0, name0 = end_point(a_col, state.INTERP_FROM, "From", "a test image", 0)
z1, x1, name1 = end_point(b_col, state.INTERP_TO, "To", "a test image", 1)
# odd by default: a middle picture (t = 0.5) to compare, which ten steps did not have (the lesson asks about it)
steps = steps_col.slider("Steps", 3, 16, 11, key="interp_steps", persist_state="session")

paths = {"Linear": lerp(z0, z1, steps), "Spherical": slerp(z0, z1, steps)}
for name, path in paths.items():
    st.subheader(f"{name} in latent space")
    decoded_grid(model, path, key=f"interp_{name.lower()}", nrow=steps, width=1100,
                 download=f"interpolation-{name.lower()}.png")
    labels = [f"{name.lower()}: step {i} of {steps}" for i in range(1, steps + 1)]  # which path, and where on it
    st.download_button("Animated GIF",
                       lambda path=path, labels=labels: gif_bytes(decode_images(model, path), labels=labels),
                       f"interpolation-{name.lower()}.gif", "image/gif", key=f"interp_gif_{name.lower()}",
                       on_click="ignore")  # made when clicked
st.plotly_chart(charts.path_norms(paths, config.latent_dim), key="interp_norms")
*ends, middle = path_lengths(z0, z1)
shell = config.latent_dim ** 0.5
if config.latent_dim > 3 and "the current point" not in (name0, name1) and max(ends) < 0.9 * shell:
    # (the ends of a 50-D model lay at |z| = 3.4 and 4.2, far inside √50 = 7.07, and nothing said why)
    active = checkpoint.metrics.get("active_units")
    collapsed = config.latent_dim - active if active is not None else 0
    st.caption(f"These ends lie at |z| = {' and '.join(f'{n:.2f}' for n in ends)}, inside the prior's shell at "
               f"√{config.latent_dim} = {shell:.2f}: each is a posterior mean, which leaves out "
               "its image's own spread σ (where the codes fill the prior, |μ|² averages D less the sum of σ²)"
               + (f", and {collapsed} of this model's {config.latent_dim} units are collapsed, all spread and no "
                  "mean" if collapsed else "")
               + f". The straight path's middle is shorter still, |z| = {middle:.2f}; the spherical one keeps "
                 "between its ends' lengths.")
apart = distance(z0, z1)
if apart < SAME_PATH:  # (a drawn 4 and 9 on mnist-2d, both encoded among the 9s: two strips of nines, unexplained)
    st.caption("Both ends are one point: every step decodes the same image." if apart < 1e-6 else
               f"The two ends are only {apart:.2g} apart in the latent space, where the prior's spread is 1 on each "
               f"axis: the encoder puts {name0} and {name1} almost at one point, so every step decodes much the same "
               "image.")
if config.latent_dim <= 3:
    angle, gap = paths_apart(z0, z1, steps)
    gap_text = f"{gap:.2f}" if gap >= 0.01 else f"{gap:.1g}"  # ("at most 0.00 apart", for paths that differ)
    st.caption(f"Seen from the origin the two ends are {angle:.0f}° apart, and the paths at most {gap_text} apart: "
               + ("they cross different parts of the latent space, the straight one nearer the origin and the round "
                  "one around it, so they decode differently." if gap >= SAME_PATH else
                  "the ends point almost the same way, so the two paths nearly coincide and decode alike."))

st.subheader("Blend in pixel space")
if x0 is None or x1 is None:
    st.caption("A latent point has no pixels of its own: the blend needs two images (test images or drawings).")
else:
    ends = [t.reshape(config.image_shape[1:]) for t in (x0, x1)]
    images.show_image(image_grid(pixel_blend(ends[0], ends[1], steps), nrow=steps), size=1100,
                       caption=f"from {name0} to {name1}, pixel by pixel")
