"""The errors vae_core raises at its boundaries: each carries a message a user can act on."""


class VAEError(Exception):
    """Base class: the CLI prints its message on one line, the app shows it with st.error."""


class ConfigError(VAEError, ValueError):
    """A hyperparameter or option has a value that cannot work."""


class DataError(VAEError):
    """A dataset is unknown, missing, malformed or cannot be downloaded."""


class CheckpointError(VAEError):
    """A checkpoint folder is missing, truncated, corrupt, foreign or inconsistent."""


class TrainingDiverged(VAEError):
    """The loss became NaN or infinite; the model holds the last good weights."""

    def __init__(self, message, history=None):
        super().__init__(message)
        self.history = history
