"""KL warm-up and free bits: two fixes for posterior collapse, compared on a short digits run."""
import streamlit as st

from ui import charts, my_runs, progress, resources, state
from vae_core.tradeoff import remedy_configs

st.title("KL warm-up and free bits")
st.markdown(
    "With a strong KL term the encoder can find it cheapest to ignore x: every q(z|x) becomes N(0, I), the KL "
    "is zero and the decoder draws the average digit (**posterior collapse**). Two remedies: **KL warm-up** "
    "starts with β = 0 and raises it linearly, so the decoder learns to use z before the KL bites; "
    "**free bits** stop penalising each dimension's KL below λ nats, so keeping a little information is free.")
# one formula each: side by side they were shrunk to 9 px high at 800 px
st.latex(r"\text{warm-up: } \beta_t = \beta \min(1, t/T)")
st.latex(r"\text{free bits: } \textstyle\sum_i \max\big(\lambda,\ \mathbb E_x[\mathrm{KL}_i]\big)")

st.markdown("**What to look for.** With the defaults (the digits sweep's 8-dimensional model at β = 2, 40 epochs) "
            "plain training switches some units off: their KL falls to zero (the table below counts the units "
            "still active at the end; the curves show each run's KL in all). "
            "Warm-up lets more of them start carrying information before the KL term bites, and free bits keep every "
            "unit above λ nats. Compare the active units and the test −ELBO at the end, and the KL curves early on "
            "(at β = 2 and seed 0 this ends with 6, 7 and 8 active units). Raise β to 4 and both plain and warm-up "
            "runs collapse entirely, while free bits still hold every unit.")
a, b, c, d = st.columns(4, vertical_alignment="bottom")  # (level where a narrow window wraps two labels)
beta = a.number_input("β", 0.5, 20.0, 2.0, key="warmup_beta")
epochs = b.number_input("Epochs", 5, 200, 40, key="warmup_epochs")
warmup = c.number_input("Warm-up epochs T", 1.0, 200.0, 30.0, key="warmup_T")
free_bits = d.number_input("Free bits λ (nats)", 0.1, 5.0, 0.5, key="warmup_lambda")
if warmup >= epochs:
    st.warning(f"With T = {warmup:g} ≥ {epochs} epochs the warm-up run never reaches β = {beta:g}: "
               "its KL is then cheaper than the others', and the comparison is not a fair one.")
group = st.session_state.get(state.COMPARE)
if st.button("Train the three runs (as one program on Ray: seconds, more while Ray first starts)", type="primary",
             key="warmup_run",
             disabled=bool(group and group.active)):
    base = resources.sweep_base("digits").replace(epochs=int(epochs), beta=beta)  # the digits sweep's model
    configs = remedy_configs(base, warmup_epochs=warmup, free_bits=free_bits)
    my_runs.keep(state.COMPARE, my_runs.start(configs, resources.dataset("digits"), "warmup-vs-free-bits"))
    st.rerun()  # from the top, so the results below poll the new runs


def label(run) -> str:
    c = run.config
    return {"warmup": f"warm-up over {c.warmup_epochs:g} epochs", "freebits": f"free bits λ={c.free_bits:g}"}.get(
        run.name, run.name)


def comparison():
    if group is None:
        st.info("Press the button: three digits models train on a Ray worker as one program (each step taken by all "
                "three at once), each keeping its own objective, schedule and checkpoint.")
        return
    progress.group_progress(group, "comparison", label)
    st.plotly_chart(charts.kl_curves({label(r): r.history for r in group if r.history}), key="warmup_curves")
    # the numbers the lesson asks about first, the status last (at 800 px the test −ELBO was past the edge)
    st.dataframe({"run": [label(r) for r in group],
                  **{column: [f"{r.history[-1][key]:{spec}}" if r.history else "–" for r in group]
                     for column, key, spec in (("active units", "active_units", "d"), ("test KL", "test_kl", ".2f"),
                                               ("test −ELBO", "test_nelbo", ".2f"))},
                  "status": [progress.status(r) for r in group]}, hide_index=True)


progress.follow(group, comparison)
