"""The command line as a user runs it: exit codes, one-line errors, and the files it writes."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "vae_core", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "digits-run"
    result = cli("train", "--dataset", "digits", "--latent-dim", "2", "--hidden", "64,32", "--epochs", "3",
                 "--batch-size", "64", "--beta", "0.5", "--seed", "4", "--out", out)
    return out, result


def test_train_writes_a_checkpoint_and_reports(trained):
    out, result = trained
    assert result.returncode == 0, result.stderr
    assert "saved" in result.stdout and "test negative ELBO" in result.stdout
    assert "3/3" in result.stderr  # the tqdm bar
    config = json.loads((out / "config.json").read_text())
    assert config["hidden"] == [64, 32] and config["beta"] == 0.5 and config["seed"] == 4
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert len(history) == 3


def test_eval_json_has_the_metrics(trained):
    out, _ = trained
    result = cli("eval", out, "--json", "--iwae", "5")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert {"nelbo", "recon", "kl", "active_units", "iwae_log_likelihood"} <= set(metrics)
    assert metrics["nelbo"] == pytest.approx(metrics["recon"] + metrics["kl"])
    assert metrics["iwae_log_likelihood"] > -metrics["nelbo"]
    saved = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["nelbo"] == pytest.approx(saved["nelbo"])  # evaluation is seeded: the same number


def test_eval_and_info_print_for_people(trained):
    out, _ = trained
    text = cli("eval", out).stdout
    assert "negative ELBO" in text and "active units" in text
    info = cli("info", out)
    assert info.returncode == 0 and "latent_dim" in info.stdout and "test_nelbo" in info.stdout


def test_existing_checkpoint_is_not_overwritten(trained):
    out, _ = trained
    result = cli("train", "--dataset", "digits", "--epochs", "1", "--out", out)
    assert result.returncode == 1 and "already holds a checkpoint" in result.stderr


@pytest.mark.parametrize("args, code, message", [
    (["train", "--dataset", "cifar", "--out", "x"], 2, "invalid choice: 'cifar'"),
    (["train", "--hidden", "40O", "--out", "x"], 2, "comma-separated integers"),
    (["train", "--latent-dim", "0", "--out", "x"], 1, "latent_dim must be a number >= 1"),
    (["train", "--lr", "-1", "--out", "x"], 1, "lr must be a number > 0"),
    (["eval", "/no/such/checkpoint"], 1, "no such checkpoint"),
    (["frobnicate"], 2, "invalid choice"),
    (["train", "--device", "tpu", "--out", "x"], 1, "device must be one of auto, cpu, cuda"),
    (["eval", "x", "--iwae", "-5"], 2, "expected a whole number of samples"),
])
def test_bad_input_gives_one_line_and_a_nonzero_exit(args, code, message):
    result = cli(*args)
    assert result.returncode == code
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_asking_for_a_missing_gpu_is_one_line():
    result = cli("train", "--device", "cuda", "--out", "x")
    assert result.returncode == 1 and "finds no CUDA GPU" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_missing_data_folder_is_one_line(tmp_path):
    result = cli("train", "--dataset", "mnist", "--data-dir", tmp_path, "--out", tmp_path / "o",
                 env={"VAE_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1
    assert "could not download mnist" in result.stderr and "train-images-idx3-ubyte.gz" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_corrupt_checkpoint_is_one_line(tmp_path):
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    result = cli("eval", tmp_path)
    assert result.returncode == 1 and "not a readable safetensors" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_train_one_epoch_on_real_mnist(mnist_dir, tmp_path):
    result = cli("train", "--dataset", "mnist", "--data-dir", mnist_dir, "--latent-dim", "20", "--epochs", "1",
                 "--precision", "bf16", "--out", tmp_path / "m")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(cli("eval", tmp_path / "m", "--json", "--data-dir", mnist_dir).stdout)
    assert metrics["n"] == 10000 and metrics["nelbo"] < 140  # an untrained model scores about 545
