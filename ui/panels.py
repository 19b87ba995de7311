"""Teaching panels too long to write inline in a page: one image's objective written out term by term (the KL
trade-off, Compare and Your digit pages), and the reduction lesson (summed against averaged reconstruction) on
the KL trade-off page."""
from __future__ import annotations

import numpy as np
import streamlit as st

from vae_core.evaluation import prior_latents
from vae_core.tradeoff import effective_beta

from . import resources
from .decoder import decoded_grid
from .images import show_reconstructions
from .source import show_loss_lines

SUMMED = resources.SHIPPED_DIR / "sweeps" / "digits" / "beta-1"   # the notes' objective
AVERAGED = resources.SHIPPED_DIR / "digits-8d-mean-recon"          # the same model, trained with the mistake


def objective_breakdown(parts, beta: float, latent_dim: int, narrow: bool = False) -> None:
    """One image's negative ELBO written out with its own numbers (vae_core.tradeoff.ObjectiveParts), reweighted
    by beta, then each dimension's mean, spread and KL. narrow: for half a page, the KL named rather than written
    out and the sum on a second line (the whole formula is wider than a column)."""
    if narrow:
        st.latex(r"\begin{aligned}\mathcal L(x) &= \underbrace{\mathbb E_{q}[-\log p(x|z)]}_{%.2f} + \beta\,"
                 r"\underbrace{\mathrm{KL}(q(z|x)\,\|\,p(z))}_{%.2f} \\ &= %.2f + %g \times %.2f = \mathbf{%.2f}\ "
                 r"\text{nats}\end{aligned}" % (parts.recon, parts.kl, parts.recon, beta, parts.kl, parts.total(beta)))
    else:
        st.latex(r"\mathcal L(x) = \underbrace{\mathbb E_{q(z|x)}[-\log p(x|z)]}_{%.2f} + \beta\,\underbrace{"
                 r"\tfrac12\textstyle\sum_{i=1}^{%d}(\mu_i^2+\sigma_i^2-\log\sigma_i^2-1)}_{%.2f}"
                 r" = %.2f + %g \times %.2f = \mathbf{%.2f}\ \text{nats}"
                 % (parts.recon, latent_dim, parts.kl, parts.recon, beta, parts.kl, parts.total(beta)))
    order = np.argsort(-np.asarray(parts.kl_per_dim), kind="stable")  # what carries this image's information first
    st.dataframe({"dimension": [f"z{i}" for i in order], "μ": np.asarray(parts.mu)[order],
                  "σ": np.asarray(parts.sigma)[order], "KL, nats": np.asarray(parts.kl_per_dim)[order]}, hide_index=True)
    if latent_dim > 2:
        st.caption("Rows from the largest KL for this image to the smallest.")


def reduction_lesson(config, parts) -> None:
    """The objective written both ways with the chosen image's numbers, then two shipped digits models trained
    each way, side by side."""
    pixels, beta = config.input_dim, config.beta
    st.markdown(f"Much VAE code averages the reconstruction over the pixels (`reduction=\"mean\"`, PyTorch's default) "
                f"while it sums the KL over the latent dimensions. Dividing the reconstruction by the number of pixels "
                f"P = {pixels} is the same as multiplying the KL by P: a β of {effective_beta(config.replace(recon_reduction='mean')):g} "
                f"in disguise. With this image's numbers:")
    st.latex(r"\text{summed: }\ \textstyle\sum_j \mathrm{BCE}_j + \beta\,\mathrm{KL} = %.2f + %g \times %.2f = %.2f"
             % (parts.recon, beta, parts.kl, parts.recon + beta * parts.kl))
    st.latex(r"\text{averaged: }\ \tfrac1P\textstyle\sum_j \mathrm{BCE}_j + \beta\,\mathrm{KL} = %.3f + %g \times %.2f"
             r" = \tfrac1{%d}\big(%.2f + \mathbf{%g} \times %.2f\big)"
             % (parts.recon / pixels, beta, parts.kl, pixels, parts.recon, beta * pixels, parts.kl))
    st.caption(f"Averaged, the KL weighs {beta * pixels * parts.kl / max(parts.recon, 1e-9):.1f} times the "
               f"reconstruction for this image instead of {beta * parts.kl / max(parts.recon, 1e-9):.2f} times: "
               "the optimiser cuts the KL whatever it costs in blur.")
    data = resources.dataset("digits")
    ways = ((SUMMED, "reconstruction summed over pixels (the ELBO)"),
            (AVERAGED, "reconstruction averaged over its 64 pixels (β × 64)"))
    for column, (path, how) in zip(st.columns(2), ways):
        checkpoint = resources.model(str(path))
        m = checkpoint.metrics
        with column:
            st.markdown(f"**{how}** · {m['active_units']} of {checkpoint.config.latent_dim} active units · "
                        f"KL {m['kl']:.2f} nats · reconstruction {m['recon']:.2f} nats")
            show_reconstructions(checkpoint.model, data.test_x[:8], 400)
            decoded_grid(checkpoint.model, prior_latents(checkpoint.config.latent_dim, 16), key=f"reduction_{path.name}",
                         nrow=8, width=400, caption="samples from the prior", download=f"prior-{path.name}.png")
    st.caption("Both are shipped digits models with the same architecture, data, seed and β = 1 (models/recipes.json): "
               "only the reduction differs. Averaged, every unit collapses: the decoder draws the average digit "
               "whatever the input, and prior samples are all alike.")
    show_loss_lines()
