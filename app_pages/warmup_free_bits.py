"""KL warm-up and free bits: two fixes for posterior collapse, compared on a short digits run."""
import streamlit as st

from ui import charts, my_runs, progress, resources, state
from ui.fields import Field, refused
from vae_core.evaluation import ACTIVE_THRESHOLD
from vae_core.tradeoff import remedy_configs

BETA, EPOCHS = Field("β", 0.5, 20.0), Field("Epochs", 5, 200)
WARMUP, FREE_BITS = Field("Warm-up epochs T", 1.0, 200.0), Field("Free bits λ (nats)", 0.1, 5.0)

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
            "plain training leaves some units switched off, their KL near zero (the table below counts the units "
            "still active at the end, the curves show each run's KL in all, and the bars each unit's). "
            "Warm-up lets more of them start carrying information before the KL term bites. Free bits make each "
            "unit's first λ nats free: below λ nothing pulls a unit's KL down and above it the KL term does, so "
            "every unit settles near λ, a little above or below it, and none is switched off. Compare the active "
            "units and the test −ELBO at the end, and the KL curves early on (at β = 2 and seed 0 this ends with "
            "6, 7 and 8 active units; active as the IWAE paper counts them, its posterior means varying across "
            "images, which a unit can do while it carries a hundredth of a nat: the caption under the bars names "
            "those). "
            "Raise β to 4 and both plain and warm-up runs collapse entirely, while under free "
            "bits every unit still carries about λ.")
group = st.session_state.get(state.COMPARE)
# the settings the session's three runs were started with, after a reload or a page switch (the form showed β = 2
# above results trained at β = 4), else the page's defaults; the widgets take them from the session state
given = {run.name: run.given for run in group} if group is not None else {}
for key, value in (("warmup_beta", given["plain"].beta if given else 2.0),
                   ("warmup_epochs", given["plain"].epochs if given else 40),
                   ("warmup_T", given["warmup"].warmup_epochs if given else 30.0),
                   ("warmup_lambda", given["freebits"].free_bits if given else 0.5)):
    st.session_state.setdefault(key, value)
a, b, c, d = st.columns(4, vertical_alignment="bottom")  # (level where a narrow window wraps two labels)
fields = {BETA: BETA(a, key="warmup_beta"), EPOCHS: EPOCHS(b, key="warmup_epochs"),
          WARMUP: WARMUP(c, key="warmup_T"), FREE_BITS: FREE_BITS(d, key="warmup_lambda")}
beta, epochs, warmup, free_bits = fields.values()
wrong = refused(fields)
if wrong:
    st.error(wrong)
elif warmup >= epochs:
    st.warning(f"With T = {warmup:g} ≥ {epochs} epochs the warm-up run never reaches β = {beta:g}: "
               "its KL is then cheaper than the others', and the comparison is not a fair one.")
waits = my_runs.busy_elsewhere(state.COMPARE)
if st.button("Train the three runs (as one program on Ray: seconds, more while Ray first starts)", type="primary",
             key="warmup_run", disabled=bool(group and group.active or waits or wrong),
             help=waits or wrong):
    base = resources.sweep_base("digits").replace(epochs=int(epochs), beta=beta)  # the digits sweep's model
    configs = remedy_configs(base, warmup_epochs=warmup, free_bits=free_bits)
    named = f"warmup-beta{beta:g}"  # (the runs at β = 2 and at 4, told apart in the picker's 34 characters)
    my_runs.keep(state.COMPARE, my_runs.start(configs, resources.dataset("digits"), named))
    st.rerun()  # from the top, so the results below poll the new runs
if waits:
    st.caption(waits)


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
    if all(r.checkpoint for r in group):
        unit_kls(list(group))


NEAR = 0.25  # a unit's KL within a quarter of λ of it is "near λ"


def unit_kls(runs) -> None:
    """Each unit's KL at the end in the three runs, the free-bits λ marked, and what that run's units carry."""
    metrics = {label(r): resources.summary(str(r.checkpoint)).metrics for r in runs}
    floors = [r.config.free_bits for r in runs if r.config.free_bits > 0]
    st.plotly_chart(charts.unit_kl_groups({name: (m["kl_per_dim"], m["activity"]) for name, m in metrics.items()},
                                          ACTIVE_THRESHOLD, floors[0] if floors else None), key="warmup_unit_kls")
    said = "Each unit's test KL at the end, the three runs side by side (a collapsed unit's bar hatched)."
    for run in runs:
        if run.config.free_bits > 0:
            kls, floor = metrics[label(run)]["kl_per_dim"], run.config.free_bits
            near = all(abs(kl - floor) <= NEAR * floor for kl in kls)
            said += (f" Under free bits {'every unit carries' if near else 'the units carry'} {min(kls):.2f} to "
                     f"{max(kls):.2f} nats{f', near λ = {floor:g}' if near else f' (λ = {floor:g})'}: free bits do "
                     "not hold a unit above λ, they stop pushing it below.")
    top = max(kl for m in metrics.values() for kl in m["kl_per_dim"])  # (the chart's axis: one for the three runs)
    faint = {name: charts.faint_active_named(m["kl_per_dim"], m["activity"], ACTIVE_THRESHOLD, top)
             for name, m in metrics.items()}
    if any(faint.values()):  # (the table counted 6 active units for the plain run beside 3 bars a student could see)
        said += (" Counted as active though their bars are too short to see: " +
                 "; ".join(f"{named} in {name}" for name, named in faint.items() if named) +
                 ". Active means its posterior means vary across images, however little KL that costs.")
    st.caption(said)


progress.follow(group, comparison)
