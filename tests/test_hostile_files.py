"""Checkpoint files from elsewhere (an upload, a folder copied in) that are damaged or forged: every field of
config.json and metrics.json is checked when read and a bad one is refused with the field named, a listing skips
an unreadable entry instead of failing, and nothing a file claims costs unbounded memory."""
import io
import json
import re
import shutil
import zipfile

import numpy as np
import pytest

from vae_core import CheckpointError, load_checkpoint, save_checkpoint
from vae_core.checkpoint import CONFIG, METRICS, WEIGHTS, find_checkpoints, import_checkpoint, summarize, zip_checkpoint


@pytest.fixture
def run(tmp_path, trained_digits):
    model, history = trained_digits
    return save_checkpoint(model, tmp_path / "run", history.epochs, {"nelbo": 24.0, "recon": 22.0, "kl": 2.0,
                                                                       "kl_per_dim": [1.5, 0.5], "activity": [1, 0.2],
                                                                       "active_units": 2, "n": 300})


ESTIMATE = {"iwae_nll": 30.0, "iwae_nll_se": 0.1, "iwae_k": 10, "iwae_n": 300}  # an estimate that fits


def edit(folder, name, change):
    data = json.loads((folder / name).read_text())
    change(data)
    (folder / name).write_text(json.dumps(data))


@pytest.mark.parametrize("change, field", [
    (lambda d: d["metrics"].update(nelbo="abc"), "metrics.nelbo"),
    (lambda d: d["metrics"].update(kl_per_dim=["a", None]), "metrics.kl_per_dim"),
    (lambda d: d["metrics"].update(kl_per_dim=[1.0, None]), "metrics.kl_per_dim[1]"),
    (lambda d: d["metrics"].update(active_units=7), "metrics.active_units"),
    (lambda d: d["metrics"].update(iwae={"10": {"iwae_nll": "x"}}), "metrics.iwae['10'].iwae_nll"),
    (lambda d: d["metrics"].update(iwae={"10": {**ESTIMATE, "elbo_gap": "x"}}), "metrics.iwae['10'].elbo_gap"),
    (lambda d: d["metrics"].update(iwae={"10": {**ESTIMATE, "elbo_gap_se": -1}}), "metrics.iwae['10'].elbo_gap_se"),
    (lambda d: d["history"][0].pop("test_nelbo"), "history[0].test_nelbo is missing"),
    (lambda d: d["history"].append("epoch 3"), "history[20] must be an object"),
    (lambda d: d.update(history={"a": 1}), "a list 'history'"),
])
def test_a_metrics_field_that_does_not_fit_is_refused_by_name(run, change, field):
    edit(run, METRICS, change)
    for read in (load_checkpoint, summarize):
        with pytest.raises(CheckpointError, match="metrics") as caught:
            read(run)
        assert field in str(caught.value) and len(str(caught.value)) < 400


def test_metrics_nested_too_deep_or_too_large_are_refused(run):
    (run / METRICS).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(run)
    (run / METRICS).write_text('{"history": [], "metrics": {"pad": "' + "x" * (17 * 2**20) + '"}}')
    with pytest.raises(CheckpointError, match="more than the"):
        summarize(run)


@pytest.mark.parametrize("value, message", [
    (5, "image_shape 5 does not match"), (None, "image_shape None does not match"),
    ([1, 8, 9], "does not match dataset 'digits'"),
])
def test_a_config_with_a_wrong_image_shape_is_refused(run, value, message):
    edit(run, CONFIG, lambda d: d.update(image_shape=value))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(run)


@pytest.mark.parametrize("value, message", [
    (2**64, "seed must be at most"), (1e30, "seed must be an integer"), (-1, "seed must be a number >= 0"),
    ("x" * 10_000, "seed must be an integer, got 'xxxxx"),
])
def test_a_config_seed_out_of_range_is_refused_in_a_short_message(run, value, message):
    edit(run, CONFIG, lambda d: d.update(seed=value))
    with pytest.raises(CheckpointError, match=message) as caught:
        load_checkpoint(run)
    assert len(str(caught.value)) < 300


def test_a_config_nested_too_deep_is_refused(run):
    (run / CONFIG).write_text("[" * 30_000 + "]" * 30_000)  # within a config's size, too deep for the parser
    with pytest.raises(CheckpointError, match="config is damaged"):
        load_checkpoint(run)


def test_a_zip_member_that_inflates_past_its_claim_is_refused_unread(tmp_path, run):
    """A zip whose metrics.json says it is 1,000 bytes but inflates to 300 MB: refused after reading the budget,
    not after inflating it all."""
    import tracemalloc

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.write(run / WEIGHTS, f"run/{WEIGHTS}")
        archive.write(run / CONFIG, f"run/{CONFIG}")
        archive.writestr(f"run/{METRICS}", b" " * (300 * 2**20))
    data = bytearray(buffer.getvalue())
    entry = data.rfind(b"PK\x01\x02")  # the central directory's record of metrics.json: its claimed size
    data[entry + 24:entry + 28] = (1000).to_bytes(4, "little")
    tracemalloc.start()
    with pytest.raises(CheckpointError, match="refused"):
        import_checkpoint(bytes(data), "bomb.zip", tmp_path / "runs")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MB held while refusing"
    assert not find_checkpoints(tmp_path / "runs")


def test_a_zip_whose_weights_lie_outside_its_top_folder_is_refused_naming_what_it_holds(tmp_path, run):
    """Entries named ../../model.safetensors or /tmp/x: "found 0" alone did not say why a zip that holds the
    weights was refused. Nothing is written outside the runs folder; a huge member is refused in MB, the unit the
    uploader states its limit in."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.write(run / WEIGHTS, f"../../{WEIGHTS}")
        archive.write(run / CONFIG, f"/tmp/{CONFIG}")
    with pytest.raises(CheckpointError) as err:
        import_checkpoint(buffer.getvalue(), "escape.zip", tmp_path / "runs")
    assert str(err.value) == (f"escape.zip refused: a zip upload must hold one {WEIGHTS}, at its top or in one folder "
                              f"(found 0; it holds '../../{WEIGHTS}', 'tmp/{CONFIG}')")  # (zipfile drops a leading /)
    assert not find_checkpoints(tmp_path / "runs") and not (tmp_path.parent / WEIGHTS).exists()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"run/{WEIGHTS}", b" " * (257 * 2**20))
    with pytest.raises(CheckpointError, match=r"^big.zip refused: it unpacks to more than 256 MB$"):
        import_checkpoint(buffer.getvalue(), "big.zip", tmp_path / "runs")


@pytest.mark.parametrize("recording, message", [
    (b"not a recording", "not a readable recording"),
    ("mnist-2d", "do not fit together or this model"),  # an MNIST model's recording beside a digits model
])
def test_a_zip_whose_recording_is_damaged_or_another_models_is_refused(tmp_path, run, recording, message):
    from pathlib import Path

    from vae_core.checkpoint import RECORDING
    if isinstance(recording, str):
        recording = (Path(__file__).resolve().parent.parent / "models" / recording / RECORDING).read_bytes()
    (run / RECORDING).write_bytes(recording)
    with pytest.raises(CheckpointError) as err:
        import_checkpoint(zip_checkpoint(run), "recorded.zip", tmp_path / "runs")
    assert str(err.value).startswith(f"recorded.zip refused: {RECORDING}: ") and message in str(err.value)
    assert not find_checkpoints(tmp_path / "runs") and not (tmp_path / "runs" / "uploads").exists()


def test_the_same_upload_imported_from_eight_threads_at_once_lands_once(tmp_path, run):
    import threading

    data, results = zip_checkpoint(run), []

    def upload():
        try:
            results.append(import_checkpoint(data, "same.zip", tmp_path / "runs"))
        except Exception as e:  # the test's boundary: any failure is a result to report
            results.append(e)

    threads = [threading.Thread(target=upload) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(map(str, results))) == 1 and not isinstance(results[0], Exception), results
    assert find_checkpoints(tmp_path / "runs") == [results[0]]


def _flagged(data: bytes, offset: int, change) -> bytes:
    """data with every local and central header of a zip changed at offset (from its signature) by change."""
    data = bytearray(data)
    for signature, at in ((b"PK\x03\x04", offset[0]), (b"PK\x01\x02", offset[1])):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            field = int.from_bytes(data[start + at:start + at + 2], "little")
            data[start + at:start + at + 2] = change(field).to_bytes(2, "little")
            start += 4
    return bytes(data)


@pytest.mark.parametrize("flags, change, message", [
    ((6, 8), lambda bits: bits | 1, "its model.safetensors is encrypted"),  # the general purpose bit flag's bit 0
    ((8, 10), lambda method: 97, "not a readable zip file (That compression method is not supported)"),
])
def test_an_encrypted_zip_or_one_compressed_unreadably_is_refused(tmp_path, run, flags, change, message):
    """zipfile raises RuntimeError (a password is needed) and NotImplementedError (compression method 97): both went
    past the refusals and gave the uploader a traceback."""
    data = _flagged(zip_checkpoint(run), flags, change)
    with pytest.raises(CheckpointError, match=rf"^locked.zip refused: {re.escape(message)}$"):
        import_checkpoint(data, "locked.zip", tmp_path / "runs")
    assert not (tmp_path / "runs" / "uploads").exists()


@pytest.mark.parametrize("dtype, accepted", [
    ("float8_e4m3fn", False), ("float8_e5m2", False), ("int32", False), ("bool", False),
    ("float16", True), ("bfloat16", True), ("float64", True),
])
def test_weights_of_a_dtype_other_than_float16_to_64_are_refused(tmp_path, run, dtype, accepted):
    """float8_e4m3fn weights gave a NotImplementedError traceback (torch.isfinite has no kernel for them)."""
    import torch
    from safetensors.torch import load_file, save

    from vae_core.checkpoint import FORMAT
    tensors = {k: v.to(getattr(torch, dtype)) for k, v in load_file(run / WEIGHTS).items()}
    data = save(tensors, metadata={"format": FORMAT, "config": (run / CONFIG).read_text()})
    if accepted:
        assert load_checkpoint(import_checkpoint(data, "w.safetensors", tmp_path / "runs")).config.latent_dim == 2
    else:
        with pytest.raises(CheckpointError, match=f"^w.safetensors refused: tensor .* has dtype torch.{dtype}, "
                                                  "expected one of float32, float16, bfloat16, float64$"):
            import_checkpoint(data, "w.safetensors", tmp_path / "runs")


@pytest.mark.parametrize("name", [WEIGHTS, "recording.safetensors"])
def test_a_safetensors_header_naming_a_crowd_of_tensors_is_refused_before_it_is_parsed(tmp_path, run, name):
    """A weights file or recording whose header names 300,000 empty tensors beside the real ones (20 MB): every one
    was read (7 s and 600 MB; a 90 MB header, within an upload's 256 MB, 47 s and 1.6 GB) before the names were
    compared with the model's."""
    import struct

    from vae_core.checkpoint import FORMAT, RECORDING
    header = {"__metadata__": {"format": FORMAT, "config": (run / CONFIG).read_text()},
              **{f"x{i}": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]} for i in range(30_000)}}  # (2 MB)
    text = json.dumps(header).encode()
    data = struct.pack("<Q", len(text)) + text
    if name == WEIGHTS:
        with pytest.raises(CheckpointError, match=r"^crowd.safetensors refused: not a readable safetensors file, "
                                                  r"truncated or corrupt \(a header of [\d,]+ bytes, more than the "
                                                  r"1,048,576 of this lab's files\)$"):
            import_checkpoint(data, "crowd.safetensors", tmp_path / "runs")
    else:
        (run / RECORDING).write_bytes(data)
        with pytest.raises(CheckpointError, match=rf"^crowd.zip refused: {RECORDING}: not a readable recording "
                                                  r"\(a header of [\d,]+ bytes, more than the 1,048,576"):
            import_checkpoint(zip_checkpoint(run), "crowd.zip", tmp_path / "runs")


@pytest.mark.parametrize("name, forge, message", [
    ("steps", lambda a: np.full(a.shape, np.nan, np.float32), "steps of the wrong type"),
    ("dims", lambda a: np.full(a.shape, np.nan, np.float32), "dims of the wrong type"),
    ("labels", lambda a: np.full(a.shape, np.nan), "labels of the wrong type"),
    ("pictures", lambda a: a.astype(np.float64), "pictures of the wrong type"),
    ("mu", lambda a: a > 0, "mu of the wrong type"),
    ("epochs", lambda a: np.full(a.shape, np.inf, np.float32), "values not finite"),
    ("pictures", lambda a: a[:, :0], "snapshots or pictures wrong"),
])
def test_a_recording_of_the_wrong_types_is_refused(tmp_path, name, forge, message):
    """A step or dimension of NaN gave a ValueError traceback when the upload was read (int(nan)), labels of NaN or
    no pictures at all one when its GIF was made; each is refused naming the array."""
    from pathlib import Path

    from safetensors.numpy import load_file, save_file

    from vae_core.recording import FORMAT, load_recording
    folder = tmp_path / "run"
    shutil.copytree(Path(__file__).resolve().parent.parent / "models" / "digits-2d", folder)
    arrays = load_file(folder / "recording.safetensors")
    save_file({**arrays, name: forge(arrays[name])}, folder / "recording.safetensors", metadata={"format": FORMAT})
    with pytest.raises(CheckpointError, match=message):
        load_recording(folder, 2, (1, 8, 8))
    with pytest.raises(CheckpointError, match=rf"^recorded.zip refused: recording.safetensors: .*{message}"):
        import_checkpoint(zip_checkpoint(folder), "recorded.zip", tmp_path / "runs")


def test_a_zip_of_thousands_of_entries_is_refused_before_its_directory_is_read(tmp_path, run):
    """Each entry zipfile reads costs a ZipInfo: an 84 MB zip of a million empty entries took 15 s and 500 MB to
    refuse, and one holding a checkpoint beside them was accepted after that."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in (WEIGHTS, CONFIG, METRICS):
            archive.write(run / name, f"run/{name}")
        for i in range(2000):
            archive.writestr(f"x{i}", b"")
    with pytest.raises(CheckpointError, match=r"^crowded.zip refused: a zip of more than 1,000 entries"):
        import_checkpoint(buffer.getvalue(), "crowded.zip", tmp_path / "runs")


@pytest.mark.parametrize("name, change, message", [
    (CONFIG, lambda d: d.update(beta=10**4000), "beta must be a number >= 0, got 1000"),
    (CONFIG, lambda d: d.update(obs_sigma=10**4000), "obs_sigma must be a number > 0, got 1000"),
    (METRICS, lambda d: d["metrics"].update(nelbo=10**4000), "metrics.nelbo must be a finite number, got 1000"),
    (METRICS, lambda d: d["history"][0].update(lr=-10**4000), "history[0].lr must be a finite number >= 0"),
])
def test_a_number_too_large_for_a_float_is_refused_by_name(tmp_path, monkeypatch, run, name, change, message):
    """JSON reads a 4,000-digit number as an int, and math.isfinite raised OverflowError on it: such a run folder in
    the runs folder broke every page's sidebar ("Open a saved run"), in every session, and such an upload gave a
    traceback."""
    from headless import app_test

    edit(run, name, change)
    for read in (load_checkpoint, summarize):
        with pytest.raises(CheckpointError, match=re.escape(message)) as caught:
            read(run)
        assert len(str(caught.value)) < 300
    with pytest.raises(CheckpointError, match=re.escape(message)):
        import_checkpoint(zip_checkpoint(run), "big.zip", tmp_path / "runs")
    monkeypatch.setenv("VAE_RUNS_DIR", str(run.parent))
    assert not app_test("app_pages/home.py").run().exception


@pytest.mark.parametrize("change", [lambda d: d.update(hidden=[10**4000]),
                                    lambda d: d.update(arch="conv", channels=[10**4000])])
def test_a_layer_width_of_thousands_of_digits_is_refused_in_a_short_message(run, change):
    """The refusal counted the weights of a 10**4000-wide layer and wrote the count out: 5,474 characters."""
    edit(run, CONFIG, change)
    with pytest.raises(CheckpointError, match=r"sizes must be at most 50,000,000 each, got \[1000") as caught:
        load_checkpoint(run)
    assert len(str(caught.value)) < 300


@pytest.mark.parametrize("name, shown", [
    ("x" * 10_000 + ".zip", "x" * 59 + "…" + "x" * 16 + ".zip"),
    ("a\x00b\n.zip", "a?b?.zip"),
])
def test_an_upload_s_file_name_is_repeated_short_and_printable(tmp_path, name, shown):
    """The browser sends any file name: a refusal repeated one of 10,000 characters whole, control characters too."""
    with pytest.raises(CheckpointError) as caught:
        import_checkpoint(b"not a zip", name, tmp_path / "runs")
    assert str(caught.value) == f"{shown} refused: not a readable zip file (File is not a zip file)"
