"""Checkpoint folders under a root: finding and summarising them, importing uploads, naming new runs, stale
temporaries, and checking that an output folder can be written before any work starts."""
import io
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from vae_core import VAE, CheckpointError, Config, load_checkpoint, save_checkpoint
from vae_core.checkpoint import (CONFIG, METRICS, UPLOADS, WEIGHTS, check_writable, find_checkpoints,
                                 import_checkpoint, new_run_dir, remove_stale_partials, summarize, zip_checkpoint)
from vae_core.runs import start_runs

ROOT = Path(__file__).resolve().parent.parent
SMALL = Config(dataset="digits", hidden=(16,), latent_dim=3, epochs=1, seed=5)


@pytest.fixture
def run(tmp_path):
    record = {"epoch": 1, "train_loss": 33.0, "train_recon": 31.0, "train_kl": 2.0, "test_nelbo": 31.25,
              "test_recon": 29.5, "test_kl": 1.75, "seconds": 0.5}
    return save_checkpoint(VAE(SMALL), tmp_path / "a-run", [record], {"nelbo": 31.25})


def files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_find_checkpoints_lists_folders_at_any_depth_and_skips_hidden_ones(tmp_path):
    for where in ["r1", "sweep/beta-1", "uploads/abc/name", ".checking-x/m"]:
        save_checkpoint(VAE(SMALL), tmp_path / where)
    (tmp_path / "empty").mkdir()
    assert find_checkpoints(tmp_path) == [tmp_path / "r1", tmp_path / "sweep" / "beta-1",
                                          tmp_path / "uploads" / "abc" / "name"]
    assert find_checkpoints(tmp_path, depth=1) == [tmp_path / "r1"]
    assert find_checkpoints(tmp_path / "nowhere") == []


def test_the_shipped_models_are_found_and_summarised_from_their_json():
    found = [p.name for p in find_checkpoints(ROOT / "models", depth=1)]
    assert {"digits-2d", "mnist-2d", "mnist-16d"} <= set(found)
    summary = summarize(ROOT / "models" / "digits-2d")
    assert summary.label.startswith("digits-2d · digits · 2-D · β=1 · test −ELBO 24.") and summary.label.endswith(" nats")
    assert summary.epochs == 150 and summary.config.hidden == (256,)
    mean = summarize(ROOT / "models" / "digits-8d-mean-recon").label  # not to be taken for a plain β=1 model
    assert mean.startswith("digits-8d-mean-recon · digits · 8-D · β=1 (reconstruction averaged over 64 pixels) · ")


def test_a_summary_never_reads_the_weights(run):
    (run / WEIGHTS).write_bytes(b"not read")  # a label needs the JSON only
    assert summarize(run).label == "a-run · digits · 3-D · β=1 · test −ELBO 31.2 nats"
    (run / CONFIG).unlink()
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        summarize(run)  # without config.json it is the weights' metadata that must be read


def test_two_runs_started_in_the_same_second_get_two_folders(tmp_path):
    folders = []
    threads = [threading.Thread(target=lambda: folders.append(new_run_dir(tmp_path, SMALL))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(folders)) == 8 and all(f.is_dir() and not any(f.iterdir()) for f in folders)
    import re
    names = [f.name for f in folders]
    assert all(re.fullmatch(r"\d{8}-\d{6}-digits-z3-beta1-[0-9a-f]{12}", name) for name in names), names


def test_a_run_s_folder_is_readable_and_cannot_be_guessed(tmp_path):
    """Dataset, latent size and beta for people; 48 random bits so that a run is opened only by its link."""
    a, b = new_run_dir(tmp_path, SMALL.replace(beta=0.5)), new_run_dir(tmp_path, SMALL.replace(beta=0.5))
    assert "-digits-z3-beta0.5-" in a.name and "-digits-z3-beta0.5-" in b.name and a.name[-12:] != b.name[-12:]


def test_a_run_whose_beta_was_changed_while_it_trained_is_listed_with_both_values(tmp_path):
    """Its folder is named as the run started; its config ends with the last β (a list showed "...-beta1" for a
    model whose caption said β=5). Other names, and a β that did not change, are shown as they are."""
    from vae_core.checkpoint import shown_name

    folder = new_run_dir(tmp_path, SMALL.replace(beta=1.0))
    assert shown_name(folder.name, 5.0) == folder.name[:-13] + "→5"
    assert shown_name(folder.name, 1.0) == shown_name(folder.name) == folder.name[:-13]
    tiny = new_run_dir(tmp_path, SMALL.replace(beta=1e-5)).name
    assert shown_name(tiny, 1e-5).endswith("-beta1e-05") and shown_name(tiny, 0.3).endswith("-beta1e-05→0.3")
    assert shown_name("beta-0.1", 3.0) == "beta-0.1" and shown_name("digits-2d", 3.0) == "digits-2d"
    save_checkpoint(VAE(SMALL.replace(beta=5.0)), folder, [], {})
    assert summarize(folder).label.startswith(folder.name[:-13] + "→5 · digits")  # Compare's picker


def test_an_empty_run_folder_left_by_a_killed_server_goes_at_the_next_run(tmp_path):
    stale, fresh = new_run_dir(tmp_path, SMALL), new_run_dir(tmp_path, SMALL)
    old = os.path.getmtime(stale) - 2 * 3600
    os.utime(stale, (old, old))
    new_run_dir(tmp_path, SMALL)
    assert not stale.exists() and fresh.exists()  # a run still training keeps its folder


def test_two_identical_jobs_started_together_keep_both_runs(digits, tmp_path, ray_address):
    config = SMALL.replace(epochs=2)
    jobs = [start_runs(config, digits, new_run_dir(tmp_path, config)).runs[0] for _ in range(2)]
    for job in jobs:
        job.join(timeout=60)
    assert [j.state for j in jobs] == ["done", "done"] and jobs[0].checkpoint != jobs[1].checkpoint
    assert len(find_checkpoints(tmp_path)) == 2


def test_a_killed_writer_s_temporaries_are_removed_the_next_time(tmp_path, run):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = run / f".{WEIGHTS}.{int(dead.stdout)}.x1y2.partial"
    stale.write_bytes(b"\0" * 1000)
    live = run / f".{WEIGHTS}.{os.getpid()}.a1b2.partial"  # a save in progress in this process
    live.write_bytes(b"\0")
    new_run_dir(tmp_path, SMALL)
    assert not stale.exists() and live.exists()
    old = os.path.getmtime(live) - 2 * 86400
    os.utime(live, (old, old))
    remove_stale_partials(run)
    assert not live.exists()
    assert find_checkpoints(tmp_path) == [run]  # and a half-written file is never listed


def test_an_upload_of_the_weights_alone_or_a_zip_becomes_a_folder(tmp_path, run):
    weights = import_checkpoint((run / WEIGHTS).read_bytes(), "my model.safetensors", tmp_path / "runs")
    assert weights.parent.parent == tmp_path / "runs" / UPLOADS and weights.name == "my-model"
    assert load_checkpoint(weights).config == SMALL
    zipped = import_checkpoint(zip_checkpoint(run), "a-run.zip", tmp_path / "runs")
    assert load_checkpoint(zipped).metrics == {"nelbo": 31.25} and load_checkpoint(zipped).history == load_checkpoint(run).history
    again = import_checkpoint(zip_checkpoint(run), "a-run.zip", tmp_path / "runs")
    assert again == zipped  # the same bytes land in the same place


def test_a_zip_of_a_recorded_model_uploads_back_with_its_recording(tmp_path):
    """The download carried the weights and the JSON but not recording.safetensors: an uploaded model lost its
    replay of the latent space forming."""
    import shutil

    from vae_core.recording import load_recording
    shipped = ROOT / "models" / "digits-2d"
    folder = shutil.copytree(shipped, tmp_path / "digits-2d")
    uploaded = import_checkpoint(zip_checkpoint(folder), "digits-2d.zip", tmp_path / "runs")
    config = load_checkpoint(uploaded).config
    back, original = (load_recording(f, config.latent_dim, config.image_shape) for f in (uploaded, shipped))
    assert len(back.snapshots) == len(original.snapshots) >= 30
    assert (back.rows == original.rows).all() and (back.snapshots[-1].mu == original.snapshots[-1].mu).all()
    assert [s.step for s in back.snapshots] == [s.step for s in original.snapshots]


def test_an_upload_with_a_300_character_name_is_kept_under_a_short_one(tmp_path, run):
    name = "x" * 300 + ".safetensors"
    folder = import_checkpoint((run / WEIGHTS).read_bytes(), name, tmp_path)
    assert folder.name == "x" * 64 and (folder / WEIGHTS).is_file()


@pytest.mark.parametrize("name, make, message", [
    ("upload.safetensors", lambda run: b"this is not a checkpoint", "not a readable safetensors"),
    ("upload.zip", lambda run: b"random bytes named .zip", "not a readable zip"),  # (was: not a readable safetensors)
    ("upload.zip", lambda run: b"PK\x03\x04 a broken zip", "not a readable zip"),
    ("upload.zip", lambda run: _zip({"notes.txt": b"hi"}), f"must hold one {WEIGHTS}"),
    ("upload.zip", lambda run: _zip({f"a/{WEIGHTS}": (run / WEIGHTS).read_bytes(), f"a/{CONFIG}": b"{bad json"}),
     "not valid JSON"),
])
def test_a_refused_upload_says_why_and_leaves_nothing(tmp_path, run, name, make, message):
    root = tmp_path / "runs"
    with pytest.raises(CheckpointError, match=message) as err:
        import_checkpoint(make(run), name, root)
    assert str(err.value).startswith(f"{name} refused:") and "checking" not in str(err.value)
    assert files_under(root) == []  # no folder, no staging files, no empty uploads/ (a first upload refused left one)


def test_an_unscored_upload_is_scored_on_its_test_images_and_one_that_scores_nan_is_refused(tmp_path):
    """Weights of 1e38 are finite, so they pass the file's checks, and overflow: their NaN score, written into
    metrics.json, made the upload unreadable on the next rerun (it vanished from the list, and stayed on disk)."""
    import math

    from safetensors.torch import save_file

    from vae_core import load_dataset

    test_x = load_dataset("digits").test_x
    model = VAE(SMALL)
    save_checkpoint(model, tmp_path / "fine")
    scored = import_checkpoint((tmp_path / "fine" / WEIGHTS).read_bytes(), "fine.safetensors", tmp_path / "runs",
                               test_images=lambda name: test_x)
    assert math.isfinite(load_checkpoint(scored).metrics["nelbo"])
    huge = {k: v.detach().clone().fill_(1e38) for k, v in model.state_dict().items()}
    save_file(huge, tmp_path / "huge.safetensors", metadata={"format": "vae-lab/1", "config": SMALL.to_json()})
    root = tmp_path / "runs-2"
    with pytest.raises(CheckpointError, match=r"^huge.safetensors refused: its weights give no finite score on its "
                                              r"test images \(nelbo \(nan\) is not a finite number\)"):
        import_checkpoint((tmp_path / "huge.safetensors").read_bytes(), "huge.safetensors", root,
                          test_images=lambda name: test_x)
    assert files_under(root) == []


def test_a_metric_that_is_nan_or_infinite_is_never_written(tmp_path, run):
    """No reader accepts one (eval --iwae --save wrote an estimate of NaN, and `info` then refused the folder)."""
    from vae_core.checkpoint import record_iwae

    with pytest.raises(CheckpointError, match=r"new: not saved: .metrics.kl_per_dim\[1\] \(inf\) is not a finite"):
        save_checkpoint(VAE(SMALL), tmp_path / "new", [], {"nelbo": 3.0, "kl_per_dim": [1.0, float("inf"), 0.0]})
    assert not (tmp_path / "new").exists()  # refused before anything was written
    checkpoint, before = load_checkpoint(run), (run / METRICS).read_text()
    with pytest.raises(CheckpointError, match=r"metrics.iwae.10.iwae_nll \(nan\) is not a finite number"):
        record_iwae(checkpoint, {10: {"iwae_nll": float("nan"), "iwae_nll_se": 0.0, "iwae_k": 10, "iwae_n": 300}})
    assert (run / METRICS).read_text() == before and "iwae" not in checkpoint.metrics
    load_checkpoint(run)  # still readable


def test_uploads_past_the_space_they_may_take_are_refused(tmp_path):
    files = [save_checkpoint(VAE(SMALL.replace(seed=i)), tmp_path / f"u{i}") / WEIGHTS for i in range(3)]
    space = 2.5 * files[0].stat().st_size / 2**20  # room for two of these
    root = tmp_path / "runs"
    kept = [import_checkpoint(f.read_bytes(), f"u{i}.safetensors", root, space_mb=space) for i, f in enumerate(files[:2])]
    with pytest.raises(CheckpointError, match=r"^u2.safetensors refused: the uploads kept here take [\d.]+ MB of the "
                                              r"[\d.]+ MB they may, and this one needs [\d.]+ MB more"):
        import_checkpoint(files[2].read_bytes(), "u2.safetensors", root, space_mb=space)
    assert import_checkpoint(files[0].read_bytes(), "u0.safetensors", root, space_mb=space) == kept[0]  # as before
    assert find_checkpoints(root) == sorted(kept)


def _zip(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_check_writable_names_the_path_and_why(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'file'}: it is a file, not a folder"):
        check_writable(tmp_path / "file")
    with pytest.raises(CheckpointError, match=f"{tmp_path / 'file'} is a file, not a folder"):
        check_writable(tmp_path / "file" / "below" / "run")
    assert check_writable(tmp_path / "new" / "run").is_dir() and not any((tmp_path / "new" / "run").iterdir())


def test_a_refused_weights_file_is_named_as_uploaded_not_as_a_folder_of_ours(tmp_path):
    with pytest.raises(CheckpointError) as err:
        import_checkpoint(b"this is not a checkpoint", "garbage.safetensors", tmp_path / "runs")
    assert str(err.value).startswith("garbage.safetensors refused: not a readable safetensors")
    # said in words (its first 8 letters read as "a header of 7,526,676,540,175,443,304 bytes, more than ...")
    assert str(err.value).endswith("(its first bytes are not a safetensors file's: another kind of file, renamed, or "
                                   "one cut short)"), str(err.value)
    for header in (b"", b"{not json", b"[1, 2]", b"[" * 100_000, b"\xff\xfe{}"):  # (an empty header was refused in the library's words: "invalid
        with pytest.raises(CheckpointError) as said:  # JSON in header: EOF while parsing a value at line 1 column 0")
            import_checkpoint(len(header).to_bytes(8, "little") + header, "empty.safetensors", tmp_path / "runs")
        assert str(said.value).endswith("(its header, the list of its tensors, is not readable: a damaged file, or "
                                        "another kind)"), str(said.value)
    assert WEIGHTS not in str(err.value)  # it read "garbage.safetensors/model.safetensors"
    assert str(err.value).count("garbage.safetensors") == 1  # it was named twice in a row


def test_a_member_of_runs_trained_together_is_named_with_its_group_and_its_start(tmp_path):
    """A sweep of one's own listed its members as a bare "beta-3", read as the shipped sweep's β = 3."""
    from vae_core.checkpoint import new_run_dir, summarize

    group = new_run_dir(tmp_path, "sweep-digits")
    save_checkpoint(VAE(SMALL), group / "beta-3")
    save_checkpoint(VAE(SMALL), tmp_path / "alone")
    stamp = group.name.split("-")[1]
    assert summarize(group / "beta-3").name == f"sweep-digits {stamp[:2]}:{stamp[2:4]}:{stamp[4:]} · beta-3"
    assert summarize(tmp_path / "alone").name == "alone"


def test_a_run_s_name_too_long_for_the_picker_loses_its_date_before_its_settings(tmp_path):
    """The picker showed "20261206-230941-di…ts-z2-beta0.5→8": the middle it cut was the run's settings."""
    from ui.sidebar import NAME_CHARACTERS, short_label

    folder = tmp_path / "20261206-230941-digits-z2-beta0.5-5f1c0a93e2b7"
    save_checkpoint(VAE(SMALL.replace(beta=8.0)), folder)
    assert short_label(str(folder)) == "230941-digits-z2-beta0.5→8"
    short = tmp_path / "20261206-230941-digits-z2-beta1-5f1c0a93e2b7"  # whole where it fits: its date kept
    save_checkpoint(VAE(SMALL), short)
    assert short_label(str(short)) == "20261206-230941-digits-z2-beta1"
    assert len("20261206-230941-digits-z2-beta0.5→8") > NAME_CHARACTERS >= len("20261206-230941-digits-z2-beta1")


def test_a_run_s_details_give_every_beta_it_took(tmp_path, digits):
    """Compare named a run raised from β = 0.5 to 8 "β=8", beside its name's "…-beta0.5→8"."""
    from vae_core import train_new
    from vae_core.controls import Controls
    from vae_core.events import StepEvent

    config, controls = SMALL.replace(beta=0.5, epochs=1), Controls()

    def at_step_3(event):
        if isinstance(event, StepEvent) and event.step == 3:
            controls.change(beta=8.0)

    model, history = train_new(config, digits, callback=at_step_3, stop=controls)
    folder = save_checkpoint(model, tmp_path / "run", history.epochs, history.test)
    assert model.config.beta == 8.0 and summarize(folder).details.startswith("digits · 3-D · β=0.5→8 · test −ELBO")


def test_a_run_folder_whose_name_is_not_utf8_is_left_out_of_every_listing(tmp_path, monkeypatch):
    """A folder copied into the runs folder under a Latin-1 name (b"run-\\xff"): its name came back with a lone
    surrogate, and every page's sidebar ("Open a saved run") failed with a UnicodeEncodeError, for every session."""
    import shutil

    from headless import app_test

    runs = tmp_path / "runs"
    shutil.copytree(ROOT / "models" / "digits-2d", runs / "20261206-101500-digits-z2-beta1-5f1c0a93e2b7")
    shutil.copytree(os.fsencode(ROOT / "models" / "digits-2d"), os.fsencode(runs) + b"/run-\xff")
    assert find_checkpoints(runs) == [runs / "20261206-101500-digits-z2-beta1-5f1c0a93e2b7"]
    monkeypatch.setenv("VAE_RUNS_DIR", str(runs))
    at = app_test("app_pages/home.py").run()
    assert not at.exception, at.exception
    assert at.sidebar.selectbox(key="open_saved_run").options == ["20261206-101500-digits-z2-beta1"]


def test_a_run_reached_twice_through_a_link_is_listed_once_by_its_shortest_path(tmp_path):
    """runs/loop -> runs: each run was listed three times in "Open a saved run" (runs/x, runs/loop/x,
    runs/loop/loop/x)."""
    import shutil

    runs = tmp_path / "runs"
    shutil.copytree(ROOT / "models" / "digits-2d", runs / "x")
    (runs / "loop").symlink_to(runs)
    assert find_checkpoints(runs) == [runs / "x"]
