"""Train: fit a new model in the background, watch its curves and reconstructions, keep the checkpoint."""
import time

import streamlit as st

from ui import charts, resources, state, widgets
from vae_core import DATASETS, Config, VAEError
from vae_core.config import ARCHS, LIKELIHOODS, PRECISIONS
from vae_core.evaluation import image_grid
from vae_core.jobs import TrainingJob

st.set_page_config(page_title="Train · VAE lab", page_icon="🏋️", layout="wide")
widgets.model_picker()
st.title("Train a model")
job: TrainingJob | None = st.session_state.get(state.JOB)

with st.form("train_form"):
    a, b, c = st.columns(3)
    dataset = a.selectbox("Dataset", list(DATASETS), key="train_dataset")
    arch = a.selectbox("Architecture", ARCHS, key="train_arch")
    hidden = a.text_input("Hidden layer sizes", "256", key="train_hidden", help="comma-separated, e.g. 512,256")
    latent_dim = b.number_input("Latent dimensions", 1, 64, 2, key="train_latent")
    beta = b.number_input("β (KL weight)", 0.0, 100.0, 1.0, step=0.1, key="train_beta")
    warmup = b.number_input("KL warm-up epochs", 0.0, 100.0, 0.0, key="train_warmup")
    free_bits = b.number_input("Free bits (nats per dimension)", 0.0, 10.0, 0.0, key="train_free_bits")
    epochs = c.number_input("Epochs", 1, 500, 30, key="train_epochs")
    batch_size = c.number_input("Batch size", 1, 4096, 64, key="train_batch")
    lr = c.number_input("Learning rate", 1e-5, 1.0, 1e-3, format="%.5f", key="train_lr")
    seed = c.number_input("Seed", 0, 2**31 - 1, 0, key="train_seed")
    with st.expander("Likelihood, binarisation, precision"):
        d, e, f = st.columns(3)
        likelihood = d.selectbox("Likelihood p(x|z)", LIKELIHOODS, key="train_likelihood",
                                 help="bernoulli: summed BCE, as in the notes; gaussian: fixed σ = 0.1")
        binarize = e.toggle("Dynamic binarisation", key="train_binarize")
        precision = f.selectbox("Matrix precision", PRECISIONS, key="train_precision",
                                help="bf16 runs the matrix products in bfloat16 (faster on recent CPUs)")
    start = st.form_submit_button("Start training", type="primary", disabled=bool(job and job.running))

if start:
    try:
        sizes = [int(h) for h in hidden.split(",")]
    except ValueError:
        sizes = hidden  # Config refuses it, saying what it expects
    try:
        config = Config(dataset=dataset, arch=arch, hidden=sizes, latent_dim=int(latent_dim), beta=beta,
                        warmup_epochs=warmup, free_bits=free_bits, epochs=int(epochs), batch_size=int(batch_size),
                        lr=lr, seed=int(seed), likelihood=likelihood, binarize=binarize, precision=precision)
        data = resources.dataset(dataset)
    except VAEError as e:
        st.error(str(e))
    else:
        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{dataset}-z{config.latent_dim}-beta{config.beta:g}"
        job = st.session_state[state.JOB] = TrainingJob(config, data, resources.runs_dir() / name).start()


polling = job is not None and job.running


@st.fragment(run_every=1.0 if polling else None)
def progress():
    """Polls the job the session owns while it runs; the training thread never touches Streamlit."""
    if job is None:
        st.info("Set the hyperparameters and start: training runs in the background, one run per session.")
        return
    adopt = (not job.running and job.checkpoint is not None
             and str(job.checkpoint) not in st.session_state[state.MY_MODELS])
    if adopt:
        widgets.add_model(str(job.checkpoint))  # the new checkpoint becomes this session's choice, once
    if adopt or (polling and not job.running):
        st.rerun()  # the whole page: the sidebar lists the model, and the polling stops
    if job.running:
        eta = job.eta_seconds
        st.progress(job.fraction, text=f"epoch {min(job.epoch + 1, job.config.epochs)} of {job.config.epochs}, "
                                       f"step {job.step}/{job.steps_per_epoch or '?'}"
                                       + (f" · about {eta:.0f} s left" if eta is not None else ""))
        st.button("Stop", key="train_stop", on_click=job.stop)
    else:
        st.progress(job.fraction, text=f"{job.state}: {job.epoch} of {job.config.epochs} epochs")
        (st.error if job.state == "failed" else st.warning if job.checkpoint is None else st.success)(job.message)
    curves, preview = st.columns([3, 2])
    curves.plotly_chart(charts.training_curves(job.steps, job.history), width="stretch",
                        key="train_curves")
    if job.preview is not None:
        with preview:
            widgets.show_image(image_grid(job.preview.flatten(0, 1), nrow=job.preview.shape[1]), size=480,
                               caption=f"after epoch {job.epoch}: test originals (top), reconstructions (bottom)")


progress()
