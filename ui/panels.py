"""Teaching panels too long to write inline in a page: one image's objective written out term by term (the KL
trade-off, Compare and Your digit pages), and, on the KL trade-off page, how far the ELBO lies from the
likelihood and the reduction lesson (summed against averaged reconstruction)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

from vae_core.config import Config
from vae_core.evaluation import prior_latents, shown_kl, shown_total

from . import charts, resources
from .decoder import decoded_grid
from .images import show_reconstructions
from .source import show_loss_lines

SUMMED = resources.SHIPPED_DIR / "sweeps" / "digits" / "beta-1"   # the notes' objective
AVERAGED = resources.SHIPPED_DIR / "digits-8d-mean-recon"          # the same model, trained with the mistake


# The posterior table's rows shown without scrolling (Streamlit's 35 px each, and the header's): a 16-D model's
# whole table, whose KL column a class adds up to the total above it (it showed 10 rows and scrolled the rest)
ROWS_SHOWN, ROW_PX = 16, 35


def objective_breakdown(parts, beta: float, latent_dim: int, narrow: bool = False) -> None:
    """One image's negative ELBO written out with its own numbers (vae_core.tradeoff.ObjectiveParts), reweighted
    by beta, then each dimension's mean, spread and KL. narrow: for half a page, the KL named rather than written
    out, the formula on four lines and the table's columns a few pixels wide (the whole is wider than a column)."""
    total, kl = shown_total(parts.recon, parts.kl, beta), shown_kl(parts.kl, beta)
    if narrow:  # the terms on two lines and their numbers, in the same order, on the next two (with the numbers
        # under the terms it was 23 em wide: shrunk to fit half of an 800 px page, it could not be read)
        st.latex(r"\begin{aligned}\mathcal L(x) &= \mathbb E_{q}[-\log p(x|z)] \\ "
                 r"&\quad + \beta\,\mathrm{KL}(q\,\|\,p) \\ &= %.2f + %g \times %s \\ "
                 r"&= \mathbf{%.2f}\ \text{nats}\end{aligned}"
                 % (parts.recon, beta, kl, total))
    else:
        st.latex(r"\begin{aligned}\mathcal L(x) &= \underbrace{\mathbb E_{q(z|x)}[-\log p(x|z)]}_{%.2f} \\ &\quad + \beta\,"
                 r"\underbrace{\tfrac12\textstyle\sum_{i=1}^{%d}(\mu_i^2+\sigma_i^2-\log\sigma_i^2-1)}_{%s} \\ "
                 r"&= %.2f + %g \times %s = \mathbf{%.2f}\ \text{nats}\end{aligned}"  # (the sum below: one line
                 % (parts.recon, latent_dim, kl, parts.recon, beta, kl, total))  # was 40 em wide; the KL under
                                                                                   # its brace as beside β)
    order = np.argsort(-np.asarray(parts.kl_per_dim), kind="stable")  # what carries this image's information first
    # narrow: columns of a few pixels with two decimals, so that the KL's fits half of an 800 px page (210 px: at
    # Streamlit's "small" widths it was cut off there)
    number = lambda label=None: st.column_config.NumberColumn(label, format="%.2f", width=54)  # noqa: E731
    # wide: three decimals in every row (left to Streamlit, "3.368" stood over "3.3112", trailing zeros cut)
    columns = ({"dimension": st.column_config.TextColumn("z", width=44), "μ": number(), "σ": number(),
                "KL, nats": number("KL")} if narrow else
               {name: st.column_config.NumberColumn(format="%.3f") for name in ("μ", "σ", "KL, nats")})
    st.dataframe({"dimension": [f"z{i}" for i in order], "μ": np.asarray(parts.mu)[order],
                  "σ": np.asarray(parts.sigma)[order], "KL, nats": np.asarray(parts.kl_per_dim)[order]}, hide_index=True,
                 column_config=columns, height=ROW_PX * (min(latent_dim, ROWS_SHOWN) + 1) + 3)
    if latent_dim > 1:  # (a walk-through read z1 above z0 on a 2-D model as a mistake)
        st.caption("Rows from the largest KL for this image to the smallest.")


def model_objective(parts, config: Config, narrow: bool = False) -> None:
    """objective_breakdown at the β the model trains with on the summed objective written there: a model that
    averages its reconstruction over P pixels pays P times its β per nat of KL (Compare's plane labels it "β=64 in
    effect"; its breakdown beside the plane wrote "1 × KL"), and a caption says why the number is not its β."""
    objective_breakdown(parts, config.effective_beta, config.latent_dim, narrow)
    if config.effective_beta != config.beta:
        st.caption(f"β = {config.effective_beta:g}: trained with β = {config.beta:g} on the reconstruction averaged "
                   f"over its {config.input_dim} pixels, which is β = {config.effective_beta:g} on the summed "
                   "objective written here (the KL trade-off page's \"Summed or averaged\").")
    if config.effective_beta != 1:  # (Compare set β = 10's 152.41 beside a β = 1 model's 82.52, both "L(x)")
        st.caption(f"Its negative ELBO for this input, the objective at β = 1 and what compares across models: "
                   f"{parts.recon:.2f} + {shown_kl(parts.kl)} = {shown_total(parts.recon, parts.kl):.2f} nats. "
                   f"The sum above is what β = {config.effective_beta:g} trained it to lower.")


def likelihood_gap(nelbo: float, curve: dict, config: Config) -> None:
    """The negative ELBO against the IWAE estimates of -log p(x) by k (resources.likelihood_curve), and what the
    gap between them is, with the model's own numbers; for a model of grey pixels scored with the Bernoulli term,
    what its "−log p(x)" is not (the README says so; the page did not)."""
    st.plotly_chart(charts.likelihood_gap(nelbo, curve), key="tradeoff_gap")
    k = max(curve)
    gap, se = curve[k]["elbo_gap"], curve[k]["elbo_gap_se"]
    drop = curve[k // 10]["iwae_nll"] - curve[k]["iwae_nll"] if k // 10 in curve else None
    first, first_se = curve[min(curve)]["elbo_gap"], curve[min(curve)]["elbo_gap_se"]
    st.markdown(r"The negative ELBO is an upper bound on −log p(x), and the gap between the two is exactly "
                r"$\mathrm{KL}(q(z|x)\,\|\,p(z|x))$ averaged over the test images: how far the encoder's Gaussian is "
                "from the decoder's true posterior. Averaging k importance-weighted draws from q tightens the bound "
                "toward −log p(x) from above; each estimate is still an upper bound (in expectation). Here the "
                f"−ELBO is {gap:.2f} ± {se:.2f} nats per image above the k = {k:,} estimate: the KL is at least "
                "that much"
                + (f", and more, since the curve still fell {drop:.2f} nats over the last tenfold of k."
                   if drop is not None and drop > 0.05 else "."))
    st.caption(f"Bars: ± one standard error of each estimate's gap to the −ELBO line, paired over the same "
               f"{curve[k]['iwae_n']:,} test images. The images' own spread in −log p(x) (± "
               f"{curve[k]['iwae_nll_se']:.2f} nats as a standard error at k = {k:,}) is the same on both sides of "
               f"the gap and cancels out of it. At k = {min(curve)} the estimate is itself a negative ELBO, but with "
               "other draws of z and its KL sampled at the draw rather than in closed form as on the line. The "
               f"dashed −ELBO line lies {abs(first):.2f} ± {first_se:.2f} nats {'above' if first >= 0 else 'below'} "
               f"the k = {min(curve)} point: "
               + ("within two standard errors: sampling noise." if abs(first) <= 2 * first_se
                  else "more than two standard errors, more than sampling noise explains.")
               + " Papers report k = 5,000.")
    if config.likelihood == "bernoulli" and not config.binarize:
        st.caption("This model's pixels are grey levels, and the Bernoulli term is not a normalised likelihood on "
                   "them: its \"−log p(x)\" is the same bound taken further toward its limit, comparable between "
                   "models of grey pixels here, not with papers' figures on binarised MNIST (mnist-50d-binarized's "
                   "are).")


def _other_size(config, beta: float) -> str:
    """The disguised β of the other bundled data's image size, so that the page shows what the lesson asks of
    both ("…and on MNIST's 784?" was asked of a page that named 64 only)."""
    other = {"digits": "mnist", "mnist": "digits"}.get(config.dataset)
    if other is None:
        return ""
    theirs = Config(dataset=other, beta=beta, recon_reduction="mean")
    return f" (on {other}'s {theirs.input_dim} pixels, a β of {theirs.effective_beta:g})"


def _two_digits(x: float) -> str:
    """x to two significant digits, written out: 130, not .2g's 1.3e+02 (read off a slide at β = 10)."""
    return f"{float(f'{x:.2g}'):g}"


def reduction_lesson(config, parts, beta: float, model_name: str, model_path: str) -> None:
    """The objective written both ways with the chosen image's numbers at the page's beta (under the model called
    model_name, at model_path), then two shipped digits models trained each way, side by side."""
    pixels = config.input_dim
    averaged = config.replace(beta=beta, recon_reduction="mean").effective_beta
    st.markdown(f"Much VAE code averages the reconstruction over the pixels (`reduction=\"mean\"`, PyTorch's default) "
                f"while it sums the KL over the latent dimensions. Dividing the reconstruction by the number of pixels "
                f"P = {pixels} is the same as multiplying the KL by P: at β = {beta:g}, a β of {averaged:g} in "
                f"disguise{_other_size(config, beta)}. With this image's numbers:")
    kl = shown_kl(parts.kl, beta)
    st.latex(r"\text{summed: }\ \textstyle\sum_j \mathrm{BCE}_j + \beta\,\mathrm{KL} = %.2f + %g \times %s = %.2f"
             % (parts.recon, beta, kl, shown_total(parts.recon, parts.kl, beta)))
    # on two lines: on one, half of an 800 px page drew it 7 px high
    st.latex(r"\begin{aligned}\text{averaged: }\ \tfrac1P\textstyle\sum_j \mathrm{BCE}_j + \beta\,\mathrm{KL} &= "
             r"%.3f + %g \times %s \\ &= \tfrac1{%d}\big(%.2f + \mathbf{%g} \times %s\big)\end{aligned}"
             % (parts.recon / pixels, beta, kl, pixels, parts.recon, averaged, kl))  # (the KL as summed writes it:
                                                                                       # 3.263 there, 3.26 here)
    # (the weights per nat first: as a share of this image's terms, an image whose KL is 0 read "0.0 times the
    # reconstruction instead of 0.00 times")
    here = (f" For this image the KL term is then {_two_digits(averaged * parts.kl / parts.recon)} times the "
            f"reconstruction instead of {_two_digits(beta * parts.kl / parts.recon)} times."
            if parts.kl >= 0.005 and parts.recon > 0 else "")
    st.caption(f"Averaged, a nat of KL costs as much as {averaged:g} nats of reconstruction instead of {beta:g}: "
               f"the optimiser cuts the KL whatever it costs in blur.{here}")
    data = resources.dataset("digits")
    ways = ((SUMMED, "reconstruction summed over pixels (the ELBO)"),
            (AVERAGED, "reconstruction averaged over its 64 pixels (β × 64)"))
    if Path(model_path).resolve() not in (SUMMED.resolve(), AVERAGED.resolve()):  # (step 7 put a 2-D model's
        dims = resources.model(str(SUMMED)).config.latent_dim                        # numbers above these unsaid)
        st.markdown(f"The numbers above are {model_name}'s. Below are two other models: shipped {dims}-D digits "
                    "models trained each way.")
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
