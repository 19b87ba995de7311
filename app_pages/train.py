"""Train: fit a new model in the background and watch it learn (its latent space forming, its curves), steer it
(pause, one step, speed, β and the learning rate), keep the checkpoint, and replay a recorded training."""
import streamlit as st

from ui import charts, images, live, my_runs, progress, resources, sidebar, state
from ui.fields import Field, refused
from vae_core import DATASETS, Config, VAEError, records
from vae_core.config import ARCHS, LIKELIHOODS, PRECISIONS, REDUCTIONS, parse_sizes
from vae_core.recording import MOST_SNAPSHOTS
from vae_core.runs import Run, RunState
from vae_core.training import emulated_bf16, native_bf16


# The form's number fields by widget key: label and range, for the fields and for a model's settings brought into
# them (_fill_in)
NUMBERS = {"train_latent": Field("Latent dimensions", 1, 64), "train_beta": Field("β (KL weight)", 0.0, 100.0),
           "train_warmup": Field("KL warm-up epochs", 0.0, 100.0),
           "train_free_bits": Field("Free bits (nats per dimension)", 0.0, 10.0),
           "train_epochs": Field("Epochs", 1, 500), "train_batch": Field("Batch size", 1, 4096),
           "train_lr": Field("Learning rate", 1e-5, 1.0), "train_seed": Field("Seed", 0, 2**31 - 1),
           "train_lr_decay": Field("Learning-rate landing (fraction of epochs)", 0.0, 1.0),
           "train_ema": Field("Weight average (EMA decay per step)", 0.0, 0.9999),
           "train_record": Field("Snapshots kept for a replay", 0, MOST_SNAPSHOTS)}


def number(column, key: str, **options):
    """The form's number field under key, its label and range NUMBERS's."""
    return NUMBERS[key](column, key=key, **options)


def config_values(c: Config) -> dict:
    """The form's values by widget key for the settings c."""
    return {"train_dataset": c.dataset, "train_arch": c.arch, "train_hidden": ",".join(map(str, c.hidden)),
            "train_latent": c.latent_dim, "train_beta": float(c.beta), "train_warmup": float(c.warmup_epochs),
            "train_free_bits": float(c.free_bits), "train_epochs": c.epochs, "train_batch": c.batch_size,
            "train_lr": float(c.lr), "train_seed": c.seed, "train_likelihood": c.likelihood,
            "train_binarize": c.binarize, "train_precision": c.precision,
            "train_channels": ",".join(map(str, c.channels)), "train_lr_decay": float(c.lr_decay),
            "train_ema": float(c.ema), "train_reduction": c.recon_reduction}


def form_values(run: Run | None) -> dict:
    """The form's values by widget key: the settings the run was started with (its config before any change of β
    or the learning rate, its first speed, its snapshots), or Config's defaults without one. (A walk-through found
    a run slowed to 1 step a second leaving that speed in the form, a 20-minute run for the next Start.)"""
    return {**config_values(run.given if run is not None else Config()),
            "train_speed": live.speed_label(run.start_speed) if run is not None else live.WATCHABLE,
            "train_record": run.record if run is not None else 40}


def _fill_in(path: str, name: str) -> None:
    """The form filled in with the settings the model at path began training with, each number brought into its
    field's range (a model trained from the command line may have run 1,000 epochs), the speed watchable, and a
    line that says so (and whether its recorded training is shown below, to compare with). Read at the click, not
    on every rerun of the page."""
    chosen = resources.model(path)
    config = records.started_with(chosen.config, chosen.history)
    values, told = config_values(config), []
    for key, field in NUMBERS.items():
        if key in values and field.refusal(values[key]):
            kept = field.kept(values[key])
            told.append(f"{field.label[0].lower()}{field.label[1:]} {kept:g} (it had {values[key]:g}, past what "
                        "this form takes)")
            values[key] = kept
    if config.likelihood == "gaussian" and config.obs_sigma != Config().obs_sigma:  # the one setting without a field
        told.append(f"the Gaussian's σ {Config().obs_sigma:g} (it had {config.obs_sigma:g}; the form has no field "
                    "for it)")
    # the speed back at watchable: a last run's 30 steps/s left in it gave mnist-50d-binarized's 234,500 steps 2 hours
    st.session_state.update(values, train_speed=live.WATCHABLE)
    st.session_state["train_filled"] = (f"The form holds {name}'s settings"
                                        + (f", except {'; '.join(told)}" if told else "")
                                        + ": Start trains it again, live"
                                        + (", to compare with its replay below." if live.has_recording(path) else "."))


st.title("Train a model")
run: Run | None = st.session_state.get(state.JOB)
for key, value in form_values(run).items():  # what the run was started with: after a page switch (which
    st.session_state.setdefault(key, value)      # drops a form's values) or a reload, not the defaults
above_form = st.container()  # the run, its live view and its results: below the form they were out of sight
if not (run and run.active):  # the sidebar's model, trained again live beside its replay: "watch it learn" with its
    chosen = st.session_state[state.MODEL]  # own recipe
    name = sidebar.short_label(chosen)
    st.button(f"Fill in {name}'s settings", key="fill_in", icon=":material/input:", on_click=_fill_in,
              args=(chosen, name),
              help="the form takes the settings the sidebar's model was trained with (β and the learning rate as "
                   "they began, where they were changed while it trained); with the same seed the run is the same "
                   "training, though on another processor its numbers can differ in the second decimal (digits-2d: "
                   "21.68 + 2.70 nats shipped, 21.66 + 2.72 trained again on a Xeon; sums run in another order)")
    if filled := st.session_state.pop("train_filled", None):
        st.caption(filled)

with st.form("train_form", enter_to_submit=False):  # (every widget takes its value from the session state set just above)
    a, b, c = st.columns(3)
    dataset = a.selectbox("Dataset", list(DATASETS), key="train_dataset",
                          help="  \n".join(f"**{name}**: {spec.about}" for name, spec in DATASETS.items()))
    arch = a.selectbox("Architecture", ARCHS, key="train_arch")
    hidden = a.text_input("Hidden layer sizes", key="train_hidden",
                          help="comma-separated, input side first, e.g. 512,256")
    latent_dim = number(b, "train_latent")
    beta = number(b, "train_beta", step=0.1)
    warmup = number(b, "train_warmup")
    free_bits = number(b, "train_free_bits")
    epochs = number(c, "train_epochs")
    batch_size = number(c, "train_batch")
    lr = number(c, "train_lr", format="%.5f")
    seed = number(c, "train_seed")
    with st.expander("Likelihood, binarisation, precision, conv channels, schedule, reconstruction"):
        e, f, g, h = st.columns(4)
        likelihood = e.selectbox("Likelihood p(x|z)", LIKELIHOODS, key="train_likelihood",
                                 help="bernoulli: summed BCE, as in the notes; "
                                      f"gaussian: fixed σ = {Config().obs_sigma}")
        binarize = f.toggle("Dynamic binarisation", key="train_binarize")
        native = native_bf16()
        precision = g.selectbox("Matrix precision", PRECISIONS, key="train_precision",
                                help="auto: bfloat16 matrix products where the processor runs them natively (about "
                                     "twice as fast), else fp32; weights, optimiser and all evaluation stay fp32. "
                                     + ("This server's processor has native bf16." if native else
                                        "This server's processor has none, so auto is fp32 here, and bf16 is "
                                        "emulated: several times slower."))
        channels = h.text_input("Conv channels", key="train_channels",
                                help="conv architecture: widths of its stride-2 convolutions")
        lr_decay = number(e, "train_lr_decay", step=0.1,
                          help="over this last fraction of the epochs the rate falls along a cosine to a "
                               "hundredth; 0 keeps it constant")
        reduction = g.selectbox("Reconstruction over pixels", REDUCTIONS, key="train_reduction",
                                help="sum: the ELBO, as in the notes; mean: averaged over the pixels, a common mistake "
                                     "(β times the pixels in effect: the KL wins, and units collapse), for teaching")
        ema = number(f, "train_ema", step=0.0005, format="%.4f",
                     help="the average of the weights over about 1/(1-decay) steps is evaluated and saved; 0 "
                          "saves the last weights")
    i, j = st.columns(2)
    speed = i.selectbox("Speed to begin with", [live.WATCHABLE, *live.SPEEDS], key="train_speed",
                        help="the most steps a second (it can be changed while the run trains); watchable: the "
                             f"slowest of these speeds that ends the run within {live.LONGEST_WATCHABLE} s, so that a "
                             "digits run can be watched (a run too long for that, as MNIST's are, goes as fast as it "
                             "can)")
    record = number(j, "train_record", help="at log-spaced steps (the first steps change most), kept with the "
                                            "checkpoint; 0 keeps none")
    waits = my_runs.busy_elsewhere(state.JOB)
    start = st.form_submit_button("Start training", type="primary", disabled=bool(run and run.active or waits),
                                  help=waits)

if waits:
    st.caption(waits)
if start and (wrong := refused({NUMBERS[key]: st.session_state[key] for key in NUMBERS})):
    st.error(wrong)
elif start:
    try:
        config = Config(dataset=dataset, arch=arch, hidden=parse_sizes(hidden), channels=parse_sizes(channels, "channels"),
                        latent_dim=int(latent_dim), beta=beta, warmup_epochs=warmup, free_bits=free_bits,
                        epochs=int(epochs), batch_size=int(batch_size), lr=lr, seed=int(seed), likelihood=likelihood,
                        binarize=binarize, precision=precision, lr_decay=lr_decay, ema=ema,
                        recon_reduction=reduction)
        data = resources.dataset(dataset)
    except VAEError as e:
        st.error(str(e))
    else:
        [run] = my_runs.start(config, data, config, live=True, record=int(record))
        run.speed(live.start_speed(speed, config.epochs * config.steps_per_epoch(len(data.train_x))))
        my_runs.keep(state.JOB, run)
        st.rerun()  # the form again, its Start disabled: drawn before the run began, it stayed enabled while Ray
                    # started workers (14 s on a cold one), and the page invited a second start


def show_run():
    if my_runs.adopt_ended(state.JOB):  # it ended after app.py looked (a Stop's rerun, say): drawn again from the
        st.rerun()                      # top, its model the sidebar's (the sidebar kept the old one until a click)
    if run is None:
        st.info("Set the hyperparameters and start: training runs on Ray workers (on this machine unless the app "
                "was given a Ray cluster), not in this page, one run per session.")
        return
    if not run.active and run.checkpoint is not None and not state.chosen(run.checkpoint):
        st.caption(f"Your last run: {run.message}")  # another model chosen (a link, the sidebar): its replay below,
        return                                       # and this run in a line, not two runs' pictures mixed
    progress.run_progress(run, show_line=not run.live)  # a live run's view draws its line
    if note := run.config.whole_batch_note(len(run.data.train_x)):
        st.caption(note[0].upper() + note[1:] + ".")
    slow = emulated_bf16(run.config)
    if slow:
        st.warning(slow[0].upper() + slow[1:] + ".")
    if run.active or not (run.steps or run.history):  # (a run stopped in the queue drew empty axes)
        return
    st.plotly_chart(charts.training_curves(run.steps, run.history, run.steps_per_epoch, run.changes), width="stretch",
                    key="train_curves")
    if run.preview is not None:
        images.show_image(run.preview, size=480,
                          caption=f"after epoch {run.epoch}: test originals (top), reconstructions (bottom)")


training = run is not None and run.active
with above_form:
    if training:
        live.controls(run)  # outside the redrawn part: a click reruns the page, a redraw does not redraw these
    running = run is not None and run.state == RunState.RUNNING  # its live view draws its progress, says it ended
    # the page again when the run's state changes, and when a β or learning rate asked for lands (the line under
    # the controls' form says where)
    progress.follow(run, show_run, every=live.FOLLOW_EVERY if running else 1.0,
                    rerun_on=lambda run: (run.state, len(run.changes)))
    if training:
        live.live_view(run)  # it fetches the run's feed itself, twice a second

path = st.session_state[state.MODEL]
if not training:  # (while one trains, another model's replay below its live view was taken for it)
    st.subheader(f"How {sidebar.short_label(path)} learned")
    if live.has_recording(path):
        st.caption("Its training, recorded: drag the scrubber from the initial weights to the end, or play it.")
        try:
            live.replay(path, sidebar.current())
        except VAEError as e:
            st.warning(f"Its recording cannot be replayed: {resources.without_server_paths(str(e))}")
    else:
        st.caption("This model carries no recording of its training (the sidebar's digits-2d and mnist-2d do; runs "
                   "trained here keep one unless asked not to, and so does `train --record N`).")
