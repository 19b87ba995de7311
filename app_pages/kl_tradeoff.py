"""The KL term, made visible: one image's objective term by term, per-dimension KL, the reparameterisation
trick, and the aggregate posterior against the prior."""
import streamlit as st

from ui import charts, links, panels, pickers, progress, resources, sidebar, state
from ui.decoder import decoded_grid
from ui.lesson import REDUCTION_SECTION
from vae_core.evaluation import ACTIVE_THRESHOLD, dimensions_by_kl
from vae_core.records import beta_text
from vae_core.runs import RunState
from vae_core.tradeoff import normal_density, objective_parts, reparameterization_draws

BETAS = [0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0]
MOST_BARS = 64  # KL bars at most: the most informative dimensions

checkpoint = sidebar.current()
model, config, path = checkpoint.model, checkpoint.config, st.session_state[state.MODEL]
st.title("KL trade-off: the objective, term by term")
data = resources.dataset_or_explain(config.dataset, "This page")
if data is None:
    st.stop()

section = links.take_section((REDUCTION_SECTION,))
index = pickers.test_image_picker(data, "tradeoff_image")
linked_beta = links.take_number("beta", allowed=BETAS)
if linked_beta is not None:
    st.session_state[state.TRADEOFF_BETA] = linked_beta
st.session_state.setdefault(state.TRADEOFF_BETA, config.beta if config.beta in BETAS else 1.0)
beta = st.select_slider("β", BETAS, key=state.TRADEOFF_BETA)  # (its value from the state: a link's sets it there)
links.write("beta", beta)
parts = objective_parts(model, data.test_x[index])
in_effect = (f", which is β = {config.effective_beta:g} on the summed objective written here (see \"Summed or "
             "averaged\" below)" if config.recon_reduction == "mean" else "")
st.caption(f"The model was trained with {beta_text(config, checkpoint.history)}{in_effect}; the slider reweights this "
           "image's terms to show what a β-VAE would pay for it. The reconstruction term is averaged over 64 draws "
           "of z.")
panels.objective_breakdown(parts, beta, config.latent_dim)

st.header("KL per dimension, over the test set")
metrics = resources.test_metrics(path)
top = dimensions_by_kl(metrics, config.latent_dim)
st.plotly_chart(charts.kl_bars(metrics["kl_per_dim"], metrics["activity"], ACTIVE_THRESHOLD, top[:MOST_BARS]),
                key="tradeoff_kl_bars")
st.caption(f"{metrics['active_units']} of {config.latent_dim} units are active: their posterior means vary across "
           f"images (variance above {ACTIVE_THRESHOLD}). A collapsed unit (grey) has much the same q(z_i|x) for "
           "every x, so it carries no information; a trained model's is N(0, 1), at no KL (early in training every "
           "code can sit away from 0 together, which costs KL all the same: the Train page's live view shows it). "
           "Raise β on the Beta sweep page to watch units collapse. "
           + charts.faint_active_units(metrics["kl_per_dim"], metrics["activity"], ACTIVE_THRESHOLD))

st.header("The reparameterisation trick")
draws = reparameterization_draws(model, data.test_x[index], n=48, seed=index)
cloud, decodes = st.columns(2)
cloud.plotly_chart(charts.reparameterization_cloud(draws.mu, draws.sigma, draws.z, (top[0], top[min(1, len(top) - 1)])),
                   key="tradeoff_cloud")
with decodes:
    decoded_grid(model, draws.z, key="tradeoff_draws", nrow=8, width=440, caption="decodes of the 48 draws of z",
                 download="reparameterisation-draws.png")
if config.latent_dim > 2:  # (the table above orders this image's dimensions; the cloud's differed without a word)
    cloud.caption(f"The cloud is drawn on z{top[0]} and z{top[1]}, the two dimensions with the most KL over the test "
                  "set (the bars above), which may differ from this image's first rows in the table.")
st.markdown(r"Sampling $z \sim \mathcal N(\mu, \sigma^2)$ is not differentiable in $\mu$ and $\sigma$. Writing "
            r"$z = \mu + \varepsilon\odot\sigma$ with $\varepsilon \sim \mathcal N(0, I)$ moves the randomness into "
            r"an input: $\partial z/\partial\mu = 1$ and $\partial z/\partial\sigma = \varepsilon$, so the "
            r"reconstruction loss sends gradients to the encoder through $\mu$ and $\sigma$, never through the draw.")

st.header("The aggregate posterior against the prior")
st.markdown(r"If every $q(z|x)$ is pulled toward $\mathcal N(0, I)$, their mixture over the data, "
            r"$q(z) = \sum_x q(z|x)\,p(x)$, is close to $\mathcal N(0, I)$ too: then decoding prior draws gives images "
            "like the data. Here is this model's mixture over its test set, computed exactly (the average of the "
            "test images' Gaussians, not a sample of it), against the prior's own density.")
pair = (top[0], top[1]) if config.latent_dim >= 2 else None
if pair:
    st.plotly_chart(charts.aggregate_vs_prior(resources.AGGREGATE_GRID, resources.aggregate(path, pair),
                                              normal_density(resources.AGGREGATE_GRID), pair), key="tradeoff_aggregate")
    st.caption(f"Filled: q(z) over z{pair[0]} and z{pair[1]}, "
               + ("the two most informative dimensions (the others integrated out)" if config.latent_dim > 2 else
                  "the model's two dimensions")  # ("the others integrated out" of a 2-D model: there are none)
               + ", its colour saturating at the densest 1% of the plane. Dashed: N(0, I) at 1, 2 "
               "and 3 σ. Where q(z) leaves a hole inside the circles, prior samples decode to something unlike the "
               "data; where it spills out, the KL term pays.")
means, _ = resources.encodings(path)
st.caption("Each dimension of the most informative ones alone: bars, a histogram of the test images' posterior means "
           "μ (which leave out each posterior's own spread); solid line, the aggregate posterior's exact marginal; "
           "dashed, N(0, 1).")
columns = st.columns(4)
for k, i in enumerate(top[:8]):
    columns[k % 4].plotly_chart(charts.marginal_vs_normal(resources.AGGREGATE_GRID, resources.aggregate(path, (i,)),
                                                          means[:, i], f"z{i}"), key=f"tradeoff_hist_{i}")

st.header("How far the ELBO is from the likelihood")
curve = resources.likelihood_curve(path)


def likelihood_gap():
    if isinstance(curve, dict):
        panels.likelihood_gap(metrics["nelbo"], curve, config)
    else:
        st.progress(curve.fraction, text=progress.waiting(curve) or
                    f"estimating −log p(x) over the test set with k = 1, 10, 100 and 1,000 importance samples "
                    f"(k = {', '.join(map(str, curve.points)) or 'none'} done); computed once for this model")
        if curve.state == RunState.FAILED:
            st.error(curve.message)


progress.follow(curve if not isinstance(curve, dict) else None, likelihood_gap)

st.header("Summed or averaged: the most common mistake in VAE code", anchor=REDUCTION_SECTION)
if section == REDUCTION_SECTION:
    links.scroll_to(section)
panels.reduction_lesson(config, parts, beta, sidebar.short_label(path), path)
