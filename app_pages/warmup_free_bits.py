"""KL warm-up and free bits: two fixes for posterior collapse, compared on a short digits run."""
import streamlit as st

from ui import charts, resources, state, widgets
from vae_core.checkpoint import new_run_dir
from vae_core.jobs import SweepJob, TrainingJob

st.title("KL warm-up and free bits")
st.markdown(
    "With a strong KL term the encoder can find it cheapest to ignore x: every q(z|x) becomes N(0, I), the KL "
    "is zero and the decoder draws the average digit (**posterior collapse**). Two remedies: **KL warm-up** "
    "starts with β = 0 and raises it linearly, so the decoder learns to use z before the KL bites; "
    "**free bits** stop penalising each dimension's KL below λ nats, so keeping a little information is free.")
st.latex(r"\text{warm-up: } \beta_t = \beta \min(1, t/T) \qquad "
         r"\text{free bits: } \textstyle\sum_i \max\big(\lambda,\ \mathbb E_x[\mathrm{KL}_i]\big)")

a, b, c, d = st.columns(4)
beta = a.number_input("β", 0.5, 20.0, 4.0, key="warmup_beta")
epochs = b.number_input("Epochs", 5, 200, 30, key="warmup_epochs")
warmup = c.number_input("Warm-up epochs T", 1.0, 200.0, 15.0, key="warmup_T")
free_bits = d.number_input("Free bits λ (nats)", 0.1, 5.0, 0.5, key="warmup_lambda")
if warmup >= epochs:
    st.warning(f"With T = {warmup:g} ≥ {epochs} epochs the warm-up run never reaches β = {beta:g}: "
               "its KL is then cheaper than the others', and the comparison is not a fair one.")
job = st.session_state.get(state.COMPARE)
if st.button("Train the three runs (about half a minute)", type="primary", key="warmup_run",
             disabled=bool(job and job.active)):
    base = resources.sweep_base("digits").replace(epochs=int(epochs), beta=beta)  # the digits sweep's model
    folder = new_run_dir(resources.runs_dir(), "warmup-vs-free-bits")
    runs = {"plain": base, f"warm-up over {warmup:g} epochs": base.replace(warmup_epochs=warmup),
            f"free bits λ={free_bits:g}": base.replace(free_bits=free_bits)}
    data = resources.dataset("digits")
    st.session_state[state.COMPARE] = SweepJob([TrainingJob(c, data, folder / name.split()[0].replace("-", ""))
                                                for name, c in runs.items()]).start()
    st.session_state[state.COMPARE_NAMES] = list(runs)
    st.rerun()  # from the top, so the results below poll the new runs


def comparison():
    if job is None:
        st.info("Press the button: three digits models with 8 latent dimensions train one after another.")
        return
    widgets.sweep_progress(job, "comparison")
    names = st.session_state[state.COMPARE_NAMES]
    st.plotly_chart(charts.kl_curves({n: j.history for n, j in zip(names, job.jobs) if j.history}),
                    key="warmup_curves")
    st.dataframe({"run": names,
                  "active units": [j.history[-1]["active_units"] if j.history else None for j in job.jobs],
                  "test KL": [j.history[-1]["test_kl"] if j.history else None for j in job.jobs],
                  "test −ELBO": [j.history[-1]["test_nelbo"] if j.history else None for j in job.jobs]},
                 hide_index=True)


widgets.follow(job, comparison)
