"""Every st.session_state key of the app, in one place. Each session has its own values."""

MODEL = "model_path"      # str: path of the chosen checkpoint (a folder or a .safetensors file)
MY_MODELS = "my_models"   # list[str]: checkpoints this session trained or uploaded
LATENT = "latent_point"   # list[float]: the current latent point, shared by the sliders and interpolation pages
JOB = "training_job"      # vae_core.jobs.TrainingJob: this session's training run, at most one
SWEEP = "sweep_job"       # vae_core.jobs.SweepJob: this session's own beta sweep on digits
COMPARE = "compare_job"   # vae_core.jobs.SweepJob: this session's warm-up / free-bits comparison runs
SWEEP_CHOSEN = "sweep_chosen"  # str: path of the model clicked on the rate-distortion plane
