"""Watching a latent space form: snapshots of a model while it trains, and recordings of them kept with a checkpoint.

A snapshot holds, for a fixed subset of the test set (the same images in every snapshot), the posterior means and
log-variances on the two dimensions with the most KL at that moment, every dimension's KL and activity, and a few
decoded pictures (the decoded manifold of a 2-D model, samples from the prior of a wider one), which keep a recording
of a large decoder small and a live view's pictures of the same step as its map.
A recording is snapshots at log-spaced steps (the first steps change most), saved as recording.safetensors beside
the weights; train() takes a Recorder or a LiveWatch as its watch.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from .checkpoint import RECORDING, atomic_write, check_header
from .errors import CheckpointError
from .evaluation import decode_images, manifold_latents, prior_latents, unit_activity
from .objective import kl_per_dim

FORMAT = "vae-lab-recording/1"
SUBSET = 1000         # test images whose posteriors a snapshot holds (all of them where there are fewer)
MANIFOLD = 10         # a 2-D model's recorded pictures: its decoded manifold, MANIFOLD x MANIFOLD tiles
PRIOR_SAMPLES = 16    # a wider model's: samples from the prior, the same draws in every snapshot
MOST_SNAPSHOTS = 200
MAX_RECORDING_BYTES = 64 * 2**20
# numpy's kind of each array of a recording file: integers, floats, and bytes for the pictures
KINDS = {"rows": "iu", "labels": "iu", "steps": "iu", "dims": "iu", "epochs": "f", "mu": "f", "logvar": "f",
         "kl_per_dim": "f", "pictures": "u", "activity": "f"}  # (activity: where it is kept)


def subset_rows(n_test: int, most: int = SUBSET) -> np.ndarray:
    """The test images every snapshot of a model holds: all of them, or `most` of them drawn once (seed 0), in order."""
    if n_test <= most:
        return np.arange(n_test)
    return np.sort(np.random.default_rng(0).choice(n_test, most, replace=False))


def recording_steps(total_steps: int, count: int) -> list[int]:
    """count steps from 0 (the initial weights) to total_steps (all of them if there are fewer), spaced
    logarithmically: the first ones one apart until a constant factor between two steps moves them by one at least
    (rounded log-spaced steps repeat at the start: 40 asked over 120 steps gave 31)."""
    if count < 2 or total_steps < 1:
        return [0]
    m = count - 1  # the steps after the initial weights
    if m >= total_steps:
        return list(range(total_steps + 1))
    k = next((k for k in range(1, m) if k * ((total_steps / k) ** (1 / (m - k)) - 1) >= 1), m)  # m: count is 2
    ratio = (total_steps / k) ** (1 / (m - k)) if m > k else 1.0
    # k's choice puts the geometric steps one apart at least, so rounding them half up repeats none (checked for
    # every total to 400 and count to 200)
    return [0, *range(1, k), *(math.floor(k * ratio ** i + 0.5) for i in range(m - k)), total_steps]


@dataclass(frozen=True)
class Snapshot:
    step: int                        # optimiser steps taken (0: the initial weights)
    epoch: float                     # epochs done, fractional
    dims: tuple[int, int]            # the two dimensions with the most KL now (a 2-D model: (0, 1), the plane
                                     # itself; a 1-D model: (0, 0))
    mu: np.ndarray                   # [M, 2] posterior means of the subset on dims, float32
    logvar: np.ndarray               # [M, 2] their log-variances
    kl_per_dim: np.ndarray           # [D] each dimension's KL, averaged over the subset
    pictures: np.ndarray | None = None  # [P, H, W] uint8 pictures decoded from picture_latents
    # [D] the variance of each dimension's posterior mean over the subset (evaluation.unit_activity: over
    # ACTIVE_THRESHOLD, active, as every page counts units); None in a wider model's recording made before it was kept
    activity: np.ndarray | None = None


@torch.no_grad()
def take_snapshot(model, x_subset: torch.Tensor, step: int, epoch: float, *, pictures: bool = False) -> Snapshot:
    """The snapshot of model now, over the flattened images x_subset (on the model's device)."""
    mu, logvar = model.encode(x_subset)
    mu, logvar = mu.float(), logvar.float()
    kl = kl_per_dim(mu, logvar).mean(0).cpu().numpy()
    activity = unit_activity(mu).cpu().numpy()
    order = np.argsort(-kl, kind="stable")
    dims = (0, 1) if len(kl) == 2 else (int(order[0]), int(order[1] if len(order) > 1 else order[0]))
    return Snapshot(step=step, epoch=epoch, dims=dims, mu=mu[:, list(dims)].cpu().numpy(),
                    logvar=logvar[:, list(dims)].cpu().numpy(), kl_per_dim=kl, activity=activity,
                    pictures=_pictures(model) if pictures else None)


def picture_latents(latent_dim: int) -> torch.Tensor:
    """The latents a snapshot's pictures are decoded from (here, and by a live view in the browser): a 2-D model's
    manifold (MANIFOLD x MANIFOLD), a wider model's PRIOR_SAMPLES draws from the prior, the same every time."""
    if latent_dim == 2:
        return manifold_latents(2, MANIFOLD)
    return prior_latents(latent_dim, PRIOR_SAMPLES)


def pictures_per_row(latent_dim: int) -> int:
    """How picture_latents' pictures are tiled: the manifold's rows, or four samples to a row."""
    return MANIFOLD if latent_dim == 2 else 4


def _pictures(model) -> np.ndarray:
    z = picture_latents(model.config.latent_dim)
    return (decode_images(model, z).numpy() * 255).round().astype(np.uint8)


class Watch:
    """What train() asks about snapshots: after each step (and before the first, step 0), whether it wants one;
    if so, the loop makes the weights current and calls take()."""

    def __init__(self, x_subset: torch.Tensor):
        self.x_subset = x_subset

    def to(self, device) -> None:
        """Keep the subset where the model trains."""
        self.x_subset = self.x_subset.to(device)

    def wants(self, step: int) -> bool:
        raise NotImplementedError

    def take(self, model, step: int, epoch: float) -> None:
        raise NotImplementedError

    def hold(self, model, step: int, epoch: float) -> None:
        """The run is about to wait (paused) after step: a live view takes a snapshot of it, unless it has."""

    def end(self, model, step: int, epoch: float) -> None:
        """The run ended with model's weights as they were after step (a stopped run's last finished epoch)."""


class Watches(Watch, list):
    """Several watches as one (a recording and a live view of one run): each takes the snapshots it wants."""

    def __init__(self, watches):
        list.__init__(self, watches)

    def to(self, device) -> None:
        for watch in self:
            watch.to(device)

    def wants(self, step: int) -> bool:
        return any(watch.wants(step) for watch in self)

    def take(self, model, step: int, epoch: float) -> None:
        for watch in self:
            if watch.wants(step):
                watch.take(model, step, epoch)

    def hold(self, model, step: int, epoch: float) -> None:
        for watch in self:
            watch.hold(model, step, epoch)

    def end(self, model, step: int, epoch: float) -> None:
        for watch in self:
            watch.end(model, step, epoch)


class Recorder(Watch):
    """Snapshots with pictures at count log-spaced steps of a run of config on data (recording_steps), kept: the
    recording the run's checkpoint carries (recording())."""

    def __init__(self, data, config, count: int):
        self.rows = subset_rows(len(data.test_x))
        super().__init__(data.test_x[torch.from_numpy(self.rows)])
        self.labels = data.test_y[torch.from_numpy(self.rows)].numpy()
        total = config.epochs * config.steps_per_epoch(len(data.train_x))
        self.steps, self.snapshots = set(recording_steps(total, count)), []

    def recording(self) -> Recording:
        return Recording(rows=self.rows, labels=self.labels, snapshots=list(self.snapshots))

    def wants(self, step: int) -> bool:
        return step in self.steps

    def take(self, model, step: int, epoch: float) -> None:
        self.snapshots.append(take_snapshot(model, self.x_subset, step, epoch, pictures=True))

    def end(self, model, step: int, epoch: float) -> None:
        """The recording ends with the weights the checkpoint keeps: a stopped run's snapshots after its last
        finished epoch are dropped (its replay had ended on weights it no longer had, or an epoch before them), and
        the last is taken again (EMA's average is published after the last step)."""
        self.snapshots = [s for s in self.snapshots if s.step < step]
        self.take(model, step, epoch)


class LiveWatch(Watch):
    """A snapshot with its pictures (picture_latents decoded) for a live view, handed to send(): every `every`
    seconds, or less often where the pictures alone would pass bytes_per_second (MNIST's manifold, 78 KB, once a
    second). The map, the KL bars and the pictures the view shows are of one step: decoder weights streamed on
    their own (MNIST's 1.6 MB within a byte budget) had left the pictures 40 s behind the map."""

    def __init__(self, x_subset: torch.Tensor, send: Callable[[Snapshot], None], every: float = 0.5,
                 bytes_per_second: float = 80_000):
        super().__init__(x_subset)
        self.send, self.every, self.rate, self.last = send, every, bytes_per_second, -float("inf")
        self.step = None  # the step of the last snapshot sent

    def wants(self, step: int) -> bool:
        return step == 0 or time.monotonic() - self.last >= self.every

    def hold(self, model, step: int, epoch: float) -> None:
        if step != self.step:  # (not taken already: the live view shows this step)
            self.take(model, step, epoch)

    def take(self, model, step: int, epoch: float) -> None:
        self.last, self.step = time.monotonic(), step
        snapshot = take_snapshot(model, self.x_subset, step, epoch, pictures=True)
        self.every = max(self.every, snapshot.pictures.nbytes / self.rate)
        self.send(snapshot)


# ---- recordings kept with a checkpoint ----

@dataclass
class Recording:
    rows: np.ndarray               # [M] test-set rows of the subset
    labels: np.ndarray             # [M] their labels
    snapshots: list[Snapshot] = field(default_factory=list)


def save_recording(folder: str | Path, recording: Recording) -> Path:
    """Write recording.safetensors into a checkpoint folder (whole or not at all)."""
    s = recording.snapshots
    tensors = {"rows": recording.rows.astype(np.int64), "labels": recording.labels.astype(np.int64),
               "steps": np.array([x.step for x in s], np.int64), "epochs": np.array([x.epoch for x in s], np.float32),
               "dims": np.array([x.dims for x in s], np.int64), "mu": np.stack([x.mu for x in s]).astype(np.float32),
               "logvar": np.stack([x.logvar for x in s]).astype(np.float32),
               "kl_per_dim": np.stack([x.kl_per_dim for x in s]).astype(np.float32),
               "pictures": np.stack([x.pictures for x in s]).astype(np.uint8)}
    if all(x.activity is not None for x in s):
        tensors["activity"] = np.stack([x.activity for x in s]).astype(np.float32)
    path = Path(folder) / RECORDING
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata={"format": FORMAT}))
    return path


def load_recording(folder: str | Path, latent_dim: int, image_shape) -> Recording | None:
    """A checkpoint folder's recording, every array's shape and type checked; None if it has none."""
    path = Path(folder) / RECORDING
    if not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_RECORDING_BYTES:
            raise CheckpointError(f"{path}: {path.stat().st_size:,} bytes, more than the {MAX_RECORDING_BYTES:,} a "
                                  "recording may have")
        check_header(path)
        with safe_open(str(path), framework="numpy") as f:
            if (f.metadata() or {}).get("format") != FORMAT:
                raise CheckpointError(f"{path}: not a recording of this lab")
            t = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a readable recording ({e})") from None
    _check_shapes(path, t, latent_dim, image_shape)
    snapshots = [_as_plane(Snapshot(step=int(t["steps"][i]), epoch=float(t["epochs"][i]),
                                    dims=tuple(int(d) for d in t["dims"][i]), mu=t["mu"][i], logvar=t["logvar"][i],
                                    kl_per_dim=t["kl_per_dim"][i], pictures=t["pictures"][i],
                                    activity=t["activity"][i] if "activity" in t else None))
                 for i in range(len(t["steps"]))]
    return Recording(rows=t["rows"], labels=t["labels"], snapshots=snapshots)


def _as_plane(s: Snapshot) -> Snapshot:
    """A 2-D model's snapshot on (z0, z1) in that order (recordings made before take_snapshot held to it ordered the
    two by KL, so the plane turned between snapshots), with its activity (those made before it was kept hold both
    dimensions' means, so it is theirs)."""
    if len(s.kl_per_dim) != 2:
        return s
    if s.dims == (1, 0):
        s = replace(s, dims=(0, 1), mu=s.mu[:, ::-1].copy(), logvar=s.logvar[:, ::-1].copy())
    if s.activity is None:
        s = replace(s, activity=s.mu.var(0))
    return s


def _check_shapes(path: Path, t: dict, latent_dim: int, image_shape) -> None:
    need = ("rows", "labels", "steps", "epochs", "dims", "mu", "logvar", "kl_per_dim", "pictures")
    missing = [k for k in need if k not in t]
    if missing:
        raise CheckpointError(f"{path}: no {', '.join(missing)} in this recording")
    n, m = len(t["steps"]), len(t["rows"])
    _, height, width = image_shape
    expected = {"labels": (m,), "epochs": (n,), "dims": (n, 2), "mu": (n, m, 2), "logvar": (n, m, 2),
                "kl_per_dim": (n, latent_dim)}
    if "activity" in t:  # (recordings made before it was kept have none)
        expected["activity"] = (n, latent_dim)
    wrong = [k for k, shape in expected.items() if tuple(t[k].shape) != shape]
    pictures = t["pictures"].shape
    if wrong or not 1 <= n <= MOST_SNAPSHOTS or len(pictures) != 4 or pictures[0] != n or pictures[1] < 1 or \
            pictures[2:] != (height, width):
        raise CheckpointError(f"{path}: its arrays do not fit together or this model "
                              f"({', '.join(wrong) or 'snapshots or pictures'} wrong)")
    # (a step or dimension of NaN gave a ValueError where it is made an int, a label of NaN in the GIF)
    typed = [k for k, kinds in KINDS.items()
             if k in t and (t[k].dtype.kind not in kinds or k == "pictures" and t[k].itemsize != 1)]
    if typed:
        raise CheckpointError(f"{path}: {', '.join(typed)} of the wrong type")
    if (t["dims"] < 0).any() or (t["dims"] >= latent_dim).any() or not all(np.isfinite(t[k]).all()
                                                                          for k in ("epochs", "mu", "logvar",
                                                                                    "kl_per_dim")):
        raise CheckpointError(f"{path}: dimensions out of range or values not finite")
    if "activity" in t and not (np.isfinite(t["activity"]).all() and (t["activity"] >= 0).all()):
        raise CheckpointError(f"{path}: activity not finite or negative")



# ---- a recording as an animated GIF (for a slide) ----

GIF_PANEL = 480      # px: the map, and the pictures beside it, each about this wide
GIF_FRAME_MS = 300   # each snapshot's time on screen (the last one stays GIF_HOLD_MS)
GIF_HOLD_MS = 2500


def plane_extent(recording: Recording) -> float:
    """The half-width of a map that holds every mean of every snapshot, the same for all frames so that spreading
    and shrinking show: at least 2, in halves (snapshot_extent)."""
    return max(snapshot_extent(s.mu) for s in recording.snapshots)


def snapshot_extent(mu: np.ndarray) -> float:
    """The half-width of a map that holds every one of a snapshot's means: from 2 to 8, in halves. A live view's map
    takes the largest so far, as a replay's takes its recording's (a live view fixed at 4 had cut MNIST's codes off
    at its edges and shown a digits run's at half the size of its replay). Every one: a map holding 99.5% of them
    drew the rest on its edge, read as lying there (a paused digits run's map at ±2 had points at 2.3 on its edge)."""
    finite = np.abs(mu[np.isfinite(mu)])  # (a diverging run's last snapshot may hold NaN)
    spread = float(finite.max()) if finite.size else 0.0
    return min(8.0, max(2.0, math.ceil(spread * 2) / 2))


def recording_gif(recording: Recording, classes, palette) -> bytes:
    """The recording as an animated GIF, a frame per snapshot: the subset's posterior means on the snapshot's two
    dimensions (coloured by label with palette, a "#rrggbb" per class) beside its recorded pictures, each pixel a
    square of whole pixels, titled with the step and epoch. At most about 1,100 x 590 px (as wide as its pictures
    need), hard edges, looped."""
    from io import BytesIO

    extent, colours = plane_extent(recording), _gif_palette(palette)
    frames = [_gif_frame(recording, s, classes, palette, extent).quantize(palette=colours, dither=0)
              for s in recording.snapshots]
    out = BytesIO()
    durations = [GIF_FRAME_MS] * (len(frames) - 1) + [GIF_HOLD_MS]
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=durations, loop=0, disposal=1)
    return out.getvalue()


def _gif_frame(recording: Recording, s: Snapshot, classes, palette, extent: float):
    from PIL import Image, ImageDraw, ImageFont

    font, margin, top = ImageFont.load_default(size=18), 40, 50
    grid = _gif_grid(s.pictures)
    # as wide as the map and the pictures need: MNIST's 10 x 10 pictures, 291 px in whole-pixel squares, had left a
    # third of a frame sized for GIF_PANEL empty
    frame = Image.new("RGB", (GIF_PANEL + grid.width + 3 * margin, GIF_PANEL + top + 60), "white")
    draw = ImageDraw.Draw(frame)
    draw.text((margin, 12), f"step {s.step:,} · epoch {s.epoch:.2f}", fill="#31333f", font=font)
    # the map: a square of GIF_PANEL px over [-extent, extent]^2, up is positive
    x0, y0, scale = margin, top, GIF_PANEL / (2 * extent)
    draw.rectangle((x0, y0, x0 + GIF_PANEL, y0 + GIF_PANEL), outline="#bbbbbb")
    centre = (x0 + GIF_PANEL / 2, y0 + GIF_PANEL / 2)
    draw.line((centre[0], y0, centre[0], y0 + GIF_PANEL), fill="#eeeeee")
    draw.line((x0, centre[1], x0 + GIF_PANEL, centre[1]), fill="#eeeeee")
    xy = np.clip(s.mu, -extent, extent)
    for (u, v), label in zip(xy, recording.labels):
        px, py = centre[0] + u * scale, centre[1] - v * scale
        draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=palette[int(label) % len(palette)])
    a, b = s.dims
    draw.text((x0, y0 + GIF_PANEL + 6), f"z{a} across, z{b} up · ±{extent:g}", fill="#31333f", font=font)
    for i, name in enumerate(classes):
        colour, left = palette[i % len(palette)], x0 + i * 46
        draw.ellipse((left, y0 + GIF_PANEL + 37, left + 10, y0 + GIF_PANEL + 47), fill=colour)
        draw.text((left + 14, y0 + GIF_PANEL + 30), str(name)[:3], fill="#31333f", font=font)
    frame.paste(grid.convert("RGB"), (2 * margin + GIF_PANEL, top + max(0, GIF_PANEL - grid.height) // 2))
    return frame


def _gif_grid(pictures: np.ndarray):
    """The pictures ([n, h, w] greys) as a square grid of whole-pixel squares, 1 px apart, at most about
    GIF_PANEL px wide."""
    from PIL import Image

    n, h, w = pictures.shape
    per_row = math.ceil(math.sqrt(n))
    rows = math.ceil(n / per_row)
    tiles = np.full((rows * (h + 1) + 1, per_row * (w + 1) + 1), 255, np.uint8)
    for i in range(n):
        r, c = divmod(i, per_row)
        tiles[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = pictures[i]
    factor = max(1, GIF_PANEL // max(tiles.shape))
    return Image.fromarray(tiles).resize((tiles.shape[1] * factor, tiles.shape[0] * factor), Image.NEAREST)


def _gif_palette(palette):
    """One palette for every frame, so a class keeps its colour: the class colours exactly, the frame's own greys,
    and evenly spaced greys for the pictures and the text's edges."""
    from PIL import Image, ImageColor

    exact = [ImageColor.getrgb(c) for c in ("#ffffff", "#31333f", "#bbbbbb", "#eeeeee", *palette)]
    greys = [(v, v, v) for v in np.linspace(0, 255, 256 - len(exact)).round().astype(int).tolist()]
    image = Image.new("P", (1, 1))
    image.putpalette([channel for colour in exact + greys for channel in colour])
    return image
