"""Home page of the VAE lab: what a VAE is, and the bundled data it starts from."""
import streamlit as st

from vae_core.data import DATASETS

st.set_page_config(page_title="VAE lab", page_icon="🧪", layout="wide")
st.title("VAE lab")
st.markdown(
    "A variational autoencoder gives every image $x$ its own posterior $q(z\\mid x)$, a diagonal Gaussian "
    "whose mean and log-variance come from an encoder, draws $z$ from it by the reparameterisation trick, "
    "and decodes $z$ back to pixels. Training maximises the evidence lower bound:")
st.latex(r"\mu = f_1(x),\quad \log\sigma^2 = f_2(x),\quad z = \mu + \varepsilon\odot\sigma,\ \varepsilon\sim\mathcal N(0, I)")
st.latex(r"\mathcal L(x) = \underbrace{-\textstyle\sum_j \big[x_j\log\hat x_j + (1-x_j)\log(1-\hat x_j)\big]}_{\text{reconstruction}}"
         r" + \beta\,\underbrace{\tfrac12\textstyle\sum_i\big(\mu_i^2+\sigma_i^2-\log\sigma_i^2-1\big)}_{\mathrm{KL}(q(z|x)\,\|\,\mathcal N(0,I))}")
st.markdown("Datasets the lab knows (train one from the command line with `./run train --dataset NAME --out DIR`):")
st.table({"dataset": list(DATASETS), "about": [spec.about for spec in DATASETS.values()]})
