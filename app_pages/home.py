"""Home: what a VAE is, and what the chosen model does to real images and to draws from the prior."""
import streamlit as st

from ui import images, resources, sidebar, source
from ui.decoder import decoded_grid
from vae_core.evaluation import prior_latents

checkpoint = sidebar.current()
config = checkpoint.config

st.title("VAE lab")
st.markdown(
    "A variational autoencoder gives every image $x$ its own posterior $q(z\\mid x)$, a diagonal Gaussian "
    "whose mean and log-variance come from the encoder, draws $z$ from it with the reparameterisation trick, "
    "and decodes $z$ back to pixels. Training minimises the negative evidence lower bound, per image (with "
    "$\\beta = 1$; a $\\beta$ other than 1 weighs the KL term more or less, and the objective is then no longer "
    "the ELBO):")
# Two lines each: on one, an 800 px window (the sidebar open) had to shrink them to 0.55 of their size.
st.latex(r"\begin{gathered}\mu = f_1(x),\quad \log\sigma^2 = f_2(x),\quad \varepsilon\sim\mathcal N(0, I),\\"
         r"z = \mu + \varepsilon\odot\sigma,\quad \hat x = \mathrm{sigmoid}(g(z))\end{gathered}")
st.latex(r"\begin{aligned}\mathcal L(x) = {}& \underbrace{-\textstyle\sum_j \big[x_j\log\hat x_j"
         r" + (1-x_j)\log(1-\hat x_j)\big]}_{\text{reconstruction}}\\"
         r"&+ \beta\,\underbrace{\tfrac12\textstyle\sum_i\big(\mu_i^2+\sigma_i^2"
         r"-\log\sigma_i^2-1\big)}_{\mathrm{KL}(q(z|x)\,\|\,\mathcal N(0,I))}\end{aligned}")
st.markdown("The KL term pulls every posterior toward $\\mathcal N(0, I)$, so that decoding draws from the "
            "prior gives new images. Pick a model in the sidebar; the pages on the left explore its latent space.")
with st.expander("The code beside the formulas"):
    source.show_beside_formulas()

left, right = st.columns(2)
with left:
    st.subheader("Test images and their reconstructions")
    data = resources.dataset_or_explain(config.dataset, "Reconstructing")
    if data is not None:
        images.show_reconstructions(checkpoint.model, data.test_x[:16], size=480)
        # where the files are is the server's business in a class (its paths are named to nobody else either)
        where = "" if resources.class_mode() else f", from {data.source}"
        binarised = (" This model was trained and scored on binarised pixels (each pixel 1 with its grey level's "
                     "probability); the grey images are those probabilities." if config.binarize else "")
        st.caption(f"the first 16 of the {len(data.test_x):,} {config.dataset} test images{where}.{binarised}")
with right:
    st.subheader("Samples from the prior")
    seed = st.number_input("Seed", 0, 10_000, 0, key="home_seed")
    decoded_grid(checkpoint.model, prior_latents(config.latent_dim, 32, int(seed)), key="home_prior", nrow=8,
                 width=480, caption="z ~ N(0, I), decoded in your browser (Bernoulli means)",
                 download="prior-samples.png")
