"""What the live view's and the replay's captions say about a snapshot, against the snapshots of the Train form's
default run (digits, 2-D, 120 steps): the words a class reads under the map must hold for the map beside them."""
import re

import numpy as np
import torch

from headless import ROOT
from vae_core import VAE, Config, train
from vae_core.events import StepEvent
from vae_core.objective import kl_per_dim

PLOTS = ROOT / "ui" / "decoder" / "plots.js"


def collapsed_note() -> tuple[float, str]:
    """plots.js's COLLAPSED_NATS and COLLAPSED_NOTE (the bars' caption under that many nats in all)."""
    source = PLOTS.read_text()
    nats = float(re.search(r"export const COLLAPSED_NATS = ([0-9.]+);", source).group(1))
    body = re.search(r"export const COLLAPSED_NOTE = (.*?);\n", source, re.S).group(1)
    return nats, "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', body))


def test_the_note_under_near_zero_kl_says_what_the_map_beside_it_shows(digits):
    """Under COLLAPSED_NATS in all the note said "the map is one blob", but the default run's means already sort the
    digits there (a nearest class centre names 42 to 51% of them, chance 10%; their spread 0.09 at step 30, 0.34 at
    step 72, where the 0s stood apart on the projector). What does hold there, and what the note now says: each
    posterior's σ is near 1 (measured 0.98 to 1.12) and the means lie well inside it (root mean square |μ| 0.23 to
    0.51)."""
    nats, note = collapsed_note()
    config = Config()  # the Train form's defaults
    model, seen = VAE(config), {}
    per_epoch = config.steps_per_epoch(len(digits.train_x))
    labels = digits.test_y.numpy()

    def on_event(event):
        if isinstance(event, StepEvent) and event.step % 6 == 0:
            with torch.no_grad():
                mu, logvar = model.encode(digits.test_x)
            means = mu.numpy()
            centres = np.stack([means[labels == k].mean(0) for k in range(10)])
            named = (((means[:, None] - centres[None]) ** 2).sum(-1).argmin(1) == labels).mean()
            seen[(event.epoch - 1) * per_epoch + event.step] = dict(
                kl=float(kl_per_dim(mu, logvar).mean(0).sum()), rms=float(mu.pow(2).sum(1).mean().sqrt()),
                sigma=float((logvar / 2).exp().mean()), named=float(named))

    train(model, digits, config, callback=on_event)
    noted = {step: s for step, s in seen.items() if s["kl"] < nats}
    assert len(noted) >= 5, {step: round(s["kl"], 2) for step, s in seen.items()}
    sorted_maps = [step for step, s in noted.items() if s["named"] > 0.3]
    assert sorted_maps, noted  # the means sort the digits while the note is shown ...
    assert "blob" not in note and "tell nothing" not in note  # ... so it may not say that the map shows nothing
    assert "σ near 1" in note and "well inside 1σ of 0" in note
    for step, s in noted.items():  # what it says instead
        assert 0.8 < s["sigma"] < 1.3 and s["rms"] < 0.6 * s["sigma"], (step, s)
