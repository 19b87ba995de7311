"""Beta sweeps on the rate-distortion plane: the same model trained at several betas, and what each one draws."""
import streamlit as st

from ui import charts, images, my_runs, progress, resources, sidebar, state
from ui.decoder import decoded_grid
from ui.fields import Field, refused
from vae_core.evaluation import ACTIVE_THRESHOLD, prior_latents
from vae_core.tradeoff import sweep_configs

# The epochs a sweep run here takes by default, where not its shipped sweep's
FIRST_EPOCHS = {"digits": 40}
LATENT, EPOCHS = Field("Latent dimensions", 1, 32), Field("Epochs per β", 1, 200)

checkpoint = sidebar.current()
st.title("Beta sweeps: rate against distortion")
sweeps = resources.shipped_sweeps()
rates = {name: [resources.summary(p).metrics["kl"] for p in paths] for name, paths in sweeps.items()}
st.markdown("Each point is one model, trained with the same data, architecture and seed at a different β. "
            "Small β buys sharp reconstructions with many nats of KL (rate); large β squeezes the rate toward zero "
            "and pays in distortion. Points on one dotted line have the same negative ELBO, the objective at β = 1 "
            "(distortion + rate). The rate axis is logarithmic, so that rates decades apart all show ("
            # (each sweep's own range: with MNIST chosen it gave the digits sweep's alone)
            + ", ".join(f"the {name} sweep's run from {min(r):.2g} to {max(r):.2g} nats" for name, r in rates.items())
            + "), and the lines of constant −ELBO bend. Click a point.")
names = list(sweeps)
dataset = st.radio("Sweep", names, horizontal=True, key="sweep_dataset",
                   index=names.index(checkpoint.config.dataset) if checkpoint.config.dataset in names else 0)
series = {f"{dataset} (shipped)": sweeps[dataset]}
ends = [resources.summary(p) for p in (sweeps[dataset][0], sweeps[dataset][-1])]
st.caption("Here: " + "; ".join(f"β = {m.config.beta:g} spends {m.metrics['kl']:.3g} nats of rate for "
                                f"{m.metrics['recon']:.2f} nats of distortion, {m.metrics['active_units']} of "
                                f"{m.config.latent_dim} units active" for m in ends if "kl" in m.metrics) + ".")
mine = st.session_state.get(state.SWEEP)
mine_on = mine.runs[0].config.dataset if mine is not None else None  # the dataset this session's sweep trained on
if mine_on == dataset:
    series["your sweep"] = [str(path) for path in mine.checkpoints]
    ours, shipped_epochs = mine.runs[0].config.epochs, resources.summary(sweeps[dataset][0]).config.epochs
    if ours != shipped_epochs:  # (its points a little worse than the shipped ones were read as the seed's noise)
        st.caption(f"Your sweep trained {ours} epoch{'s' * (ours != 1)} per β, the shipped one {shipped_epochs}: "
                   "compare its points with that in mind.")


def show_model(checkpoint, x, size, key, nrow=8):
    """Test images over their reconstructions, then samples from the prior, nrow to a row."""
    images.show_reconstructions(checkpoint.model, x, size)
    decoded_grid(checkpoint.model, prior_latents(checkpoint.config.latent_dim, 16), key=key, nrow=nrow, width=size,
                 caption="samples from the prior", download=f"prior-beta-{checkpoint.config.beta:g}.png")


event = st.plotly_chart(charts.rate_distortion_plane({name: [resources.summary(p) for p in paths]
                                                      for name, paths in series.items()}),
                        on_select="rerun", selection_mode="points", key="sweep_plane")
on_plane = [p for paths in series.values() for p in paths]
clicked = charts.clicked(event, on_plane, "rate-distortion plane")
if clicked:
    st.session_state[state.SWEEP_CHOSEN] = clicked
chosen = st.session_state.get(state.SWEEP_CHOSEN)
if chosen not in on_plane and st.session_state[state.MODEL] in on_plane:
    chosen = st.session_state[state.MODEL]  # the sidebar's, before a click: the lesson's link chooses β = 1, and its
    # question is about the bars below (they were not there until a point was clicked)
data = resources.dataset_or_explain(dataset, "Showing reconstructions")

if chosen and data is not None and resources.model(chosen).config.dataset == dataset:
    model = resources.model(chosen)
    st.subheader(f"β = {model.config.beta:g}: rate {model.metrics['kl']:.3g}, distortion {model.metrics['recon']:.2f} "
                 "nats")  # (rate to 3 significant digits: β = 10's 0.000319 read "0.00" on a logarithmic axis)
    st.button("Choose it for the other pages", key="sweep_choose", disabled=st.session_state[state.MODEL] == chosen,
              on_click=lambda: st.session_state.update({state.MODEL: chosen}),
              help="make it the sidebar's model: the sliders, the map and the KL page then show it, and the link "
                   "names it")
    left, right = st.columns(2)
    members = [model.metrics] + [resources.summary(p).metrics for paths in series.values() for p in paths]
    top = 1.05 * max(max(m["kl_per_dim"]) for m in members if "kl_per_dim" in m)  # one axis for every member
    left.plotly_chart(charts.kl_bars(model.metrics["kl_per_dim"], model.metrics["activity"], ACTIVE_THRESHOLD,
                                     top=top), key="sweep_kl_bars")
    left.caption(f"One axis for every model on the plane (0 to {top:.2g} nats), so that bars compare across β: "
                 "a collapsed unit's bar is too short to see. " + charts.faint_active_units(
                     model.metrics["kl_per_dim"], model.metrics["activity"], ACTIVE_THRESHOLD, top))
    with right:
        show_model(model, data.test_x[:8], 440, "sweep_chosen_prior")


if data is not None:
    st.header("Low, medium and high β side by side")
    columns = st.columns(3)
    for column, path in zip(columns, [sweeps[dataset][0], sweeps[dataset][len(sweeps[dataset]) // 2],
                                      sweeps[dataset][-1]]):
        m = resources.model(path)
        with column:
            # two lines in each column, so that the pictures below line up (one of them wrapped at 800 px)
            st.markdown(f"**β = {m.config.beta:g}**  \n{m.metrics['active_units']} active units")
            # four to a row: eight in a third of the page drew digits' 8x8 samples at 24 px, too small to judge (and
            # four test images, not eight: at 800 px eight reconstructions were 16 px each)
            show_model(m, data.test_x[:4], 400, f"sweep_prior_{m.config.beta:g}", nrow=4)

st.header(f"Run your own sweep on {dataset}")
base = resources.sweep_base(dataset)  # the shipped sweep's settings
given = [run.given for run in mine] if mine_on == dataset else []  # the session's sweep's settings, after a reload
# (the form said 40 epochs beside a sweep of 20), else the defaults: the shipped sweep's latent size, and digits' 40
# epochs (a sweep in 2 to 4 s; its shipped 100 took 10) or MNIST's shipped 10 (70 s here on an idle node's two cores)
defaults = {"sweep_betas": [c.beta for c in given] or [0.1, 0.3, 1.0, 3.0, 10.0],
            f"sweep_latent_{dataset}": given[0].latent_dim if given else base.latent_dim,
            f"sweep_epochs_{dataset}": given[0].epochs if given else FIRST_EPOCHS.get(dataset, base.epochs)}
for key, value in defaults.items():
    st.session_state.setdefault(key, value)
if data is None:  # (what is missing, and the download, are said above)
    st.caption(f"A sweep on {dataset} needs its images, as said above.")
else:
    with st.form(f"sweep_form_{dataset}", enter_to_submit=False):
        # the β values on a row of their own: in half of an 800 px page three of the five chips showed
        betas = st.multiselect("β values", [0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0], key="sweep_betas")
        b, c = st.columns(2)
        latent = LATENT(b, key=f"sweep_latent_{dataset}")
        epochs = EPOCHS(c, key=f"sweep_epochs_{dataset}",
                        help=f"the shipped {dataset} sweep trained {base.epochs}; the members train as one program, "
                             "each step for all of them at once")
        waits = my_runs.busy_elsewhere(state.SWEEP)
        go = st.form_submit_button("Run the sweep", disabled=bool(mine and mine.active or waits),
                                   help=waits)
    if waits:
        st.caption(waits)
    wrong = go and refused({LATENT: latent, EPOCHS: epochs})
    if wrong:
        st.error(wrong)
    elif go and not betas:
        st.warning("Choose at least one β for the sweep.")
    elif go:
        base = base.replace(latent_dim=int(latent), epochs=int(epochs))
        my_runs.keep(state.SWEEP, my_runs.start(sweep_configs(base, betas), data, f"sweep-{dataset}"))
        st.rerun()

if mine is not None:
    progress.follow(mine, lambda: progress.group_progress(mine, f"{mine_on} sweep"))
    if not mine.active and mine.checkpoints:  # (its result is at the top of the page, far from this button)
        st.caption("Its points are on the plane at the top of this page, as “your sweep”: click one to see what it "
                   "draws." if mine_on == dataset else
                   f"Choose the {mine_on} sweep at the top of this page to see its points on the plane, beside the "
                   "shipped ones.")
