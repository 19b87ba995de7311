"""Snapshots and recordings of a model while it trains (vae_core/recording.py): a snapshot's means are the model's
encoding at that step, a recording takes log-spaced steps from the initial weights to the last, round-trips
through a checkpoint folder, and a live watch keeps within its byte budget."""
import io
import time

import numpy as np
import pytest
import torch

from safetensors.numpy import load_file, save_file

from vae_core import VAE, CheckpointError, Config, evaluate, train
from vae_core.evaluation import ACTIVE_THRESHOLD
from vae_core.events import StepEvent
from vae_core.recording import (FORMAT, RECORDING, LiveWatch, Recorder, load_recording, picture_latents, recording_steps,
                                save_recording, subset_rows)
from waiting import wait_until

SMALL = Config(dataset="digits", hidden=(32,), latent_dim=3, batch_size=100, epochs=4, seed=1)  # 15 steps an epoch


def test_recording_steps_are_log_spaced_from_the_initial_weights_to_the_last():
    steps = recording_steps(6000, 30)
    assert steps[0] == 0 and steps[-1] == 6000 and steps == sorted(set(steps)) and len(steps) == 30
    ratios = np.array(steps[10:]) / np.array(steps[9:-1])  # past the first few, each a constant factor on the last
    assert ratios.max() / ratios.min() < 1.1 and steps[len(steps) // 2] < 6000 / 20
    for total, count in ((120, 40), (41, 40), (40, 40), (10, 40), (100, 2)):  # as many as asked, or every step
        few = recording_steps(total, count)  # (the digits default, 120 steps, kept 31 of 40)
        assert few[0] == 0 and few[-1] == total and few == sorted(set(few)) and len(few) == min(count, total + 1)
    assert subset_rows(300).tolist() == list(range(300)) and len(subset_rows(10_000)) == 1000
    assert subset_rows(10_000).tolist() == subset_rows(10_000).tolist()  # the same images every time


def test_a_snapshot_s_means_are_the_model_s_encoding_at_its_step(digits):
    """The weights at the snapshot's moment, kept aside, encode the subset to the snapshot's means on its two
    dimensions of most KL; the initial snapshot is the untrained model's."""
    import copy

    class Keeping(Recorder):
        def take(self, model, step, epoch):
            super().take(model, step, epoch)
            self.weights = getattr(self, "weights", []) + [copy.deepcopy(model.state_dict())]

    recorder = Keeping(digits, SMALL, count=10)
    recorder.steps = {0, 7, 33}
    train(VAE(SMALL), digits, SMALL, watch=recorder)
    assert [s.step for s in recorder.snapshots] == [0, 7, 33, 60]  # and the weights it ended with
    assert recorder.snapshots[1].epoch == pytest.approx(7 / 15)
    for snapshot, weights in zip(recorder.snapshots, recorder.weights):
        model = VAE(SMALL)
        model.load_state_dict(weights)
        with torch.no_grad():
            mu, logvar = model.encode(digits.test_x)
        np.testing.assert_allclose(snapshot.mu, mu[:, list(snapshot.dims)].numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(snapshot.logvar, logvar[:, list(snapshot.dims)].numpy(), rtol=1e-5, atol=1e-6)
        # its activity is the pages' (evaluate's, over the same images): the live view greys the units they count
        # collapsed (it had greyed a unit under 0.01 nats, and "6 active" on one page was 5 blue bars on another)
        metrics = evaluate(model, digits.test_x, SMALL)
        np.testing.assert_allclose(snapshot.activity, metrics["activity"], rtol=1e-4, atol=1e-7)
        assert (snapshot.activity > ACTIVE_THRESHOLD).sum() == metrics["active_units"]
    assert not np.allclose(recorder.snapshots[0].mu, recorder.snapshots[2].mu)  # it learned in between
    assert recorder.snapshots[0].pictures.shape == (16, 8, 8) and recorder.snapshots[0].pictures.dtype == np.uint8


def test_a_stopped_run_s_recording_ends_with_the_weights_it_keeps(digits):
    """Stopped at step 40 (ten steps into epoch 3), the run goes back to epoch 2's weights: its recording drops
    the snapshots after step 30 and ends with a snapshot of the weights kept, at step 30."""
    class StopAt:
        def __init__(self, checks):
            self.checks = checks

        def is_set(self):
            self.checks -= 1
            return self.checks < 0

    model, recorder = VAE(SMALL), Recorder(digits, SMALL, count=60)
    history = train(model, digits, SMALL, watch=recorder, stop=StopAt(40))
    assert history.stopped and len(history.epochs) == 2
    steps = [s.step for s in recorder.snapshots]
    assert steps == list(range(31)) and recorder.snapshots[-1].epoch == 2.0
    with torch.no_grad():
        mu, _ = model.encode(digits.test_x)
    last = recorder.snapshots[-1]
    np.testing.assert_allclose(last.mu, mu[:, list(last.dims)].numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_recording_a_run_does_not_change_what_it_learns(digits, precision):
    """The snapshots draw no random numbers and leave the weights as they were: a recorded run ends bit for bit
    where the same run unrecorded does (what let the shipped models be recorded by training them again)."""
    config = SMALL.replace(precision=precision, binarize=True, ema=0.99, lr_decay=0.5, epochs=2)
    plain, recorded = VAE(config), VAE(config)
    train(plain, digits, config)
    recorder = Recorder(digits, config, count=20)
    train(recorded, digits, config, watch=recorder)
    assert len(recorder.snapshots) >= 15
    for (name, a), b in zip(plain.state_dict().items(), recorded.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_recording_round_trips_through_a_checkpoint_folder_and_refuses_a_forged_one(digits, tmp_path):
    recorder = Recorder(digits, SMALL, count=12)
    train(VAE(SMALL), digits, SMALL, watch=recorder)
    recording = recorder.recording()
    assert [s.step for s in recording.snapshots] == sorted(recorder.steps) and recording.snapshots[-1].step == 60
    save_recording(tmp_path, recording)
    back = load_recording(tmp_path, SMALL.latent_dim, SMALL.image_shape)
    assert [s.step for s in back.snapshots] == [s.step for s in recording.snapshots]
    for a, b in zip(recording.snapshots, back.snapshots):
        np.testing.assert_array_equal(a.mu, b.mu)
        np.testing.assert_array_equal(a.pictures, b.pictures)
        np.testing.assert_array_equal(a.activity, b.activity)
        assert a.dims == b.dims
    with pytest.raises(CheckpointError, match="do not fit"):
        load_recording(tmp_path, 5, SMALL.image_shape)  # another model's latent size
    tensors = load_file(tmp_path / RECORDING)
    for forged, message in ((tensors["activity"][:, :2], "activity wrong"), (-tensors["activity"], "negative"),
                            (tensors["activity"] > 0.01, "activity of the wrong type")):
        save_file({**tensors, "activity": forged.copy()}, tmp_path / RECORDING, metadata={"format": FORMAT})
        with pytest.raises(CheckpointError, match=message):
            load_recording(tmp_path, 3, SMALL.image_shape)
    # one made before snapshots kept their activity still loads, without it (a wider model's: its snapshots hold two
    # dimensions' means, not all three)
    save_file({k: v for k, v in tensors.items() if k != "activity"}, tmp_path / RECORDING, metadata={"format": FORMAT})
    assert all(s.activity is None for s in load_recording(tmp_path, 3, SMALL.image_shape).snapshots)
    (tmp_path / RECORDING).write_bytes(b"not a recording")
    with pytest.raises(CheckpointError, match="not a readable recording"):
        load_recording(tmp_path, 3, SMALL.image_shape)


def test_a_live_watch_sends_each_snapshot_with_its_pictures_within_its_byte_budget(digits):
    """A run paced at 60 steps a second (a second of training): with no interval of its own, every step's snapshot
    with the pictures decoded from that step's weights (a wider model's 16 samples from the prior, 1 KB); with a
    budget of 10 KB/s, one every 0.1 s at most."""
    from vae_core.controls import Controls
    from vae_core.evaluation import decode_images

    class Keeping(LiveWatch):
        def take(self, model, step, epoch):
            super().take(model, step, epoch)
            self.expected = getattr(self, "expected", []) + [decode_images(model, picture_latents(3))]

    sent, controls = [], Controls()
    controls.speed(60)
    watch = Keeping(digits.test_x, sent.append, every=0.0, bytes_per_second=1e9)
    train(VAE(SMALL), digits, SMALL, watch=watch, stop=controls)
    assert [s.step for s in sent] == list(range(61))  # every step
    assert all(s.mu.shape == (len(digits.test_x), 2) and s.pictures.shape == (16, 8, 8) for s in sent)
    for snapshot, expected in zip(sent, watch.expected):  # the pictures are of the snapshot's own step
        np.testing.assert_array_equal(snapshot.pictures, (expected.numpy() * 255).round().astype(np.uint8))
    assert not np.array_equal(sent[0].pictures, sent[-1].pictures)
    sent.clear()
    watch = LiveWatch(digits.test_x, sent.append, every=0.0, bytes_per_second=10_000)
    began = time.monotonic()
    train(VAE(SMALL), digits, SMALL, watch=watch, stop=controls)
    seconds = time.monotonic() - began  # a second, or more on a busy machine (the first snapshot, and the last, free)
    assert watch.every == pytest.approx(16 * 64 / 10_000) and 5 <= len(sent) <= seconds / watch.every + 3


def test_the_shipped_recording_replays_as_a_gif_a_frame_per_snapshot_with_each_class_in_its_colour():
    """digits-2d's recording: a frame per snapshot, wide enough for a slide, the plane always (z0, z1); a class's
    colour is the same exact colour in the first frame and the last (a palette per frame had turned 0s grey)."""
    from PIL import Image, ImageColor

    from ui.charts import PALETTE
    from vae_core.recording import recording_gif

    recording = load_recording("models/digits-2d", 2, (1, 8, 8))
    assert all(s.dims == (0, 1) for s in recording.snapshots)
    gif = Image.open(io.BytesIO(recording_gif(recording, [str(i) for i in range(10)], PALETTE)))
    assert gif.n_frames == len(recording.snapshots) and gif.width >= 512 and gif.info.get("loop") == 0
    for frame in (0, gif.n_frames - 1):
        gif.seek(frame)
        colours = {c for _, c in gif.convert("RGB").getcolors(1 << 16)}
        assert {ImageColor.getrgb(c) for c in PALETTE} <= colours, frame


@pytest.mark.parametrize("name, shape", [("digits-2d", (1, 8, 8)), ("mnist-2d", (1, 28, 28))])
def test_a_replay_gif_is_as_wide_as_its_map_and_pictures_need(name, shape):
    """mnist-2d's frames were 1,080 px wide with their right third empty: its 10 x 10 pictures, 291 px in whole-pixel
    squares, sat in a space sized for 480. A frame ends a margin past its pictures, which stand level with the
    map's middle."""
    from PIL import Image

    from ui.charts import PALETTE
    from vae_core.recording import GIF_PANEL, recording_gif

    recording = load_recording(f"models/{name}", 2, shape)
    recording.snapshots = recording.snapshots[-1:]
    gif = Image.open(io.BytesIO(recording_gif(recording, [str(i) for i in range(10)], PALETTE))).convert("L")
    ink = np.asarray(gif) < 250
    columns, rows = np.flatnonzero(ink.any(0)), np.flatnonzero(ink[:, 2 * 40 + GIF_PANEL:].any(1))
    assert gif.width - 1 - columns[-1] <= 40 + 8, (gif.width, columns[-1])  # a margin (and a white edge): no third
    assert abs((rows[0] + rows[-1]) / 2 - (50 + GIF_PANEL / 2)) <= 2, (rows[0], rows[-1])  # level with the map


@pytest.mark.parametrize("name, shape", [("digits-2d", (1, 8, 8)), ("mnist-2d", (1, 28, 28))])
def test_each_shipped_2d_model_carries_its_whole_training_s_recording_in_a_few_mb(name, shape):
    """From the initial weights to the model's last epoch, log-spaced (the first steps closest together), with the
    decoded manifold in every snapshot."""
    from vae_core import load_checkpoint
    from vae_core.recording import MANIFOLD

    from conftest import ROOT

    config = load_checkpoint(ROOT / "models" / name).config
    recording = load_recording(ROOT / "models" / name, 2, shape)
    s = recording.snapshots
    assert (ROOT / "models" / name / RECORDING).stat().st_size < 8 * 2**20 and len(s) >= 30
    assert s[0].step == 0 and s[0].epoch == 0 and s[-1].epoch == pytest.approx(config.epochs)
    gaps = np.diff([x.step for x in s])
    assert (gaps > 0).all() and gaps[-1] > 20 * gaps[1]
    assert all(x.pictures.shape == (MANIFOLD * MANIFOLD, *shape[1:]) for x in s)
    # recorded before snapshots kept their activity: a 2-D model's is its two dimensions' means', which it holds
    assert all(np.array_equal(x.activity, x.mu.var(0)) for x in s) and s[-1].activity.min() > ACTIVE_THRESHOLD


def test_a_paused_run_s_live_view_gets_the_step_it_waits_at_even_where_its_recording_took_that_step(digits):
    """Paused, a run's live watch takes the step it waits at, also where the recording took that step (the first
    steps are all recorded) and where the pause came during the speed limit's wait: the view stayed two to four
    steps behind the run's progress line."""
    import threading

    from vae_core.controls import Controls
    from vae_core.recording import Watches

    controls, sent = Controls(), []
    controls.speed(40)
    recorder = Recorder(digits, SMALL, count=61)  # every one of its 60 steps
    live = LiveWatch(digits.test_x, sent.append, every=1000.0)  # by time, only step 0's
    training = threading.Thread(target=train, args=(VAE(SMALL), digits, SMALL),
                                kwargs={"watch": Watches([recorder, live]), "stop": controls}, daemon=True)
    training.start()
    try:
        time.sleep(0.4)
        controls.pause()
        wait_until(lambda: len(sent) >= 2, 10, "the paused step's snapshot")
        time.sleep(0.3)  # waiting: nothing more comes
        assert sent[-1].step == recorder.snapshots[-1].step >= 2 and len(sent) == 2
        assert sent[-1].pictures is not None
    finally:
        controls.stop()
        training.join(30)
