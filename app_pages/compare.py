"""Two models side by side: the same test image or drawing through both (reconstructions, posteriors, objective
breakdowns), the same latent point decoded by both, and both on the rate-distortion plane."""
import streamlit as st

from ui import charts, links, panels, pickers, resources, sidebar, state
from ui.decoder import decoded_grid, grid_scale
from ui.images import thumbnail
from vae_core import VAEError
from vae_core.drawing import preprocess, read_drawing
from vae_core.evaluation import as_images, scored_on
from vae_core.tradeoff import objective_parts

PICTURE = 200  # px: the input and both reconstructions, all as large


def partner(config, options: list[str]) -> str:
    """The first of options trained on config's dataset with its latent size, else on its dataset, else the
    first: a B that takes A's test images, and its latent points where it can; among those, a plain one (the
    reconstruction summed, β = 1) where there is one: digits-2d's B had been digits-8d-mean-recon, the
    reduction lesson's broken model, with no word of why."""
    def fits(path):
        other = resources.summary(path).config
        same_data = other.dataset == config.dataset
        return (same_data, same_data and other.latent_dim == config.latent_dim, other.recon_reduction == "sum",
                other.beta == 1)

    return max(options, key=fits)  # (the first of the best)


first = sidebar.current()
st.title("Compare two models")  # the sidebar's name for it ("Two models side by side" read as another page)
st.caption("The model chosen in the sidebar is A; pick B here. Any two: shipped, trained here or uploaded.")
if (linked := links.take("b")) is not None:  # a link's B (β = 0.1 against β = 10, handed to a class)
    try:
        path = links.model_path(linked)
    except VAEError as e:
        links.notice(f"this link's B: {e}; B is another")
        links.drop("b")
    else:
        if path == st.session_state[state.MODEL]:
            links.notice(f"this link's B, {links.excerpt(linked)}, is A itself; B is another")
        else:  # listed as a link's A is (a run trained here, by whoever sent the link)
            links.list_linked(path)
            st.session_state["compare_other"] = path
# the sidebar's, the shipped sweeps' members among them (β = 0.1 against β = 10 is the trade-off side by side)
options = [p for p in sidebar.pickable() if p != st.session_state[state.MODEL]]
if st.session_state.get("compare_other") not in options:  # a partner A can be compared with: digits-2d, the first
    st.session_state["compare_other"] = partner(first.config, options)  # other, left MNIST's A no test image
names = sidebar.short_labels(options)
other = st.selectbox("Model B", options, key="compare_other", persist_state="session",  # (a page switch lost it)
                     format_func=lambda p: f"{names[p]} · {resources.summary(p).details}")
second = resources.model(other)
links.write("b", links.model_ref(other))  # a reload or a copied link compares the same two
models = {"A": first, "B": second}
drawing = st.session_state.get(state.DRAWING)
same_data = first.config.dataset == second.config.dataset
inputs = (["a test image"] if same_data else []) + (["your drawing"] if drawing is not None else [])
if not inputs:
    st.info(f"A is trained on {first.config.dataset} and B on {second.config.dataset}: no test image fits both. "
            "Draw a digit on the Your digit page: it is preprocessed for each model's data.")
source = st.radio("The same input", inputs, horizontal=True, key="compare_input",
                  persist_state="session") if inputs else None
if source == "a test image":
    data = resources.dataset_or_explain(first.config.dataset, "Comparing on a test image")
    index = pickers.test_image_picker(data, "compare_image") if data is not None else None

columns = st.columns(2)
for (name, checkpoint), column in zip(models.items(), columns):
    config = checkpoint.config
    with column:
        st.subheader(f"{name}: {sidebar.short_label(str(checkpoint.path))}")  # (the whole label filled eight lines
        st.caption(resources.summary(str(checkpoint.path)).details)                 # of a heading at 800 px)
        if source == "your drawing":
            x = preprocess(read_drawing(drawing), config.dataset)
        elif source == "a test image" and index is not None:
            x = resources.dataset(config.dataset).test_x[index]
        else:
            continue
        parts = objective_parts(checkpoint.model, x)
        original, reconstruction = st.columns(2)
        with original:
            side = config.image_shape[2]  # as large as the reconstruction's pixels beside it
            thumbnail(as_images(x, config.image_shape)[0], size=grid_scale(side, PICTURE) * side, alt="the input")
            st.caption("the input, as this model's data")
        with reconstruction:
            decoded_grid(checkpoint.model, [parts.mu], key=f"compare_recon_{name}", nrow=1, width=PICTURE,
                         caption="reconstruction: the decoded posterior mean",
                         download=f"model-{name}-reconstruction.png")
        panels.model_objective(parts, config, narrow=True)

st.header("The same latent point")
z = state.latent_point(first.config.latent_dim)
if first.config.latent_dim != second.config.latent_dim:
    st.info(f"A's latent space has {first.config.latent_dim} dimensions and B's {second.config.latent_dim}: a point "
            "of one is not a point of the other, so there is no same point to decode.")
else:
    st.caption("The current point (the sliders' and the pad's): (" + ", ".join(f"{v:.2f}" for v in z[:8])
               + (", …" if len(z) > 8 else "") + "), decoded by each model. The same z means different things to "
               "different decoders: each model learned its own latent space.")
    for (name, checkpoint), column in zip(models.items(), st.columns(2)):
        with column:
            decoded_grid(checkpoint.model, [z], key=f"compare_point_{name}", nrow=1, width=200, caption=name,
                         download=f"model-{name}-point.png")

st.header("On the rate-distortion plane")
planes = {}  # what the nats measure -> the models measured so, each on a plane of its own
for name, checkpoint in models.items():
    if {"kl", "recon"} <= set(checkpoint.metrics):
        planes.setdefault(scored_on(checkpoint.config), {})[name] = [resources.summary(str(checkpoint.path))]
if len(planes) > 1:
    st.caption("A's and B's nats measure different data, so each model has a plane of its own: a nat of " +
               " is not a nat of ".join(planes) + ". More pixels, or grey levels instead of black and white, "
               "cost other numbers of nats for an equally good fit.")
for (measured, scored), column in zip(planes.items(), st.columns(len(planes)) if planes else []):
    with column:
        st.markdown(f"**{' and '.join(scored)}**: {measured}")
        # A blue and B orange on a plane each too (apart, each was its plane's first series: both blue)
        st.plotly_chart(charts.rate_distortion_plane(scored, {"A": charts.PALETTE[0], "B": charts.PALETTE[1]}),
                        key=f"compare_plane_{''.join(scored)}")
missing = [name for name in models if not any(name in scored for scored in planes.values())]
if missing:
    st.caption(f"{' and '.join(missing)} has no test metrics (its test images are not on this machine).")
