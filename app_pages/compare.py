"""Two models side by side: the same test image or drawing through both (reconstructions, posteriors, objective
breakdowns), the same latent point decoded by both, and both on the rate-distortion plane."""
import streamlit as st

from ui import charts, panels, pickers, resources, sidebar, state
from ui.decoder import decoded_grid
from vae_core.drawing import preprocess, read_drawing
from vae_core.tradeoff import objective_parts

first = sidebar.current()
st.title("Two models side by side")
st.caption("The model chosen in the sidebar is A; pick B here. Any two: shipped, trained here or uploaded.")
options = [p for p in resources.shipped_models() + st.session_state[state.MY_MODELS] if p != st.session_state[state.MODEL]]
other = st.selectbox("Model B", options, format_func=sidebar.label, key="compare_other")
second = resources.model(other)
models = {"A": first, "B": second}
drawing = st.session_state.get(state.DRAWING)
same_data = first.config.dataset == second.config.dataset
inputs = (["a test image"] if same_data else []) + (["your drawing"] if drawing is not None else [])
if not inputs:
    st.info(f"A is trained on {first.config.dataset} and B on {second.config.dataset}: no test image fits both. "
            "Draw a digit on the Your digit page: it is preprocessed for each model's data.")
source = st.radio("The same input", inputs, horizontal=True, key="compare_input") if inputs else None
if source == "a test image":
    data = resources.dataset_or_explain(first.config.dataset, "Comparing on a test image")
    index = pickers.test_image_picker(data, "compare_image") if data is not None else None

columns = st.columns(2)
for (name, checkpoint), column in zip(models.items(), columns):
    config = checkpoint.config
    with column:
        st.subheader(f"{name}: {sidebar.label(str(checkpoint.path))}")
        if source == "your drawing":
            x = preprocess(read_drawing(drawing), config.dataset)
        elif source == "a test image" and index is not None:
            x = resources.dataset(config.dataset).test_x[index]
        else:
            continue
        parts = objective_parts(checkpoint.model, x)
        decoded_grid(checkpoint.model, [parts.mu], key=f"compare_recon_{name}", nrow=1, width=200,
                     caption="reconstruction: the decoded posterior mean", download=f"model-{name}-reconstruction.png")
        panels.objective_breakdown(parts, config.beta, config.latent_dim, narrow=True)

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
scored = {name: [resources.summary(str(c.path))] for name, c in models.items() if {"kl", "recon"} <= set(c.metrics)}
if scored:
    st.plotly_chart(charts.rate_distortion_plane(scored), key="compare_plane")
missing = [name for name in models if name not in scored]
if missing:
    st.caption(f"{' and '.join(missing)} has no test metrics (its test images are not on this machine).")
