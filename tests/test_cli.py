"""The command line as a user runs it: exit codes, one-line errors, and the files it writes."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import torch

from vae_core import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "vae_core", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


def main(*args, capsys) -> subprocess.CompletedProcess:
    """The CLI called in this process, as `python -m vae_core` calls it (each process of that loads torch: 2 s):
    what it returned or exited with, and what it printed."""
    from vae_core.cli import main as cli_main

    threads = torch.get_num_threads()  # (a command sets torch's threads; this process keeps its own)
    try:
        code = cli_main([str(arg) for arg in args])
    except SystemExit as e:  # argparse's refusals
        code = e.code
    finally:
        torch.set_num_threads(threads)
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


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


def test_eval_json_has_the_metrics(trained, capsys):
    out, _ = trained
    result = main("eval", out, "--json", "--iwae", "5", capsys=capsys)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert {"nelbo", "recon", "kl", "active_units", "iwae_nll", "iwae_nll_se", "iwae_k"} <= set(metrics)
    assert metrics["nelbo"] == pytest.approx(metrics["recon"] + metrics["kl"])
    assert metrics["iwae_nll"] < metrics["nelbo"] and metrics["iwae_nll_se"] > 0 and metrics["iwae_k"] == 5
    saved = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["nelbo"] == pytest.approx(saved["nelbo"])  # evaluation is seeded: the same number


def test_eval_and_info_print_for_people(trained, capsys):
    out, _ = trained
    text = main("eval", out, capsys=capsys).stdout
    assert "negative ELBO" in text and "active units" in text
    info = main("info", out, capsys=capsys)
    assert info.returncode == 0 and "latent_dim" in info.stdout and "test_nelbo" in info.stdout


def test_existing_checkpoint_is_not_overwritten(trained, capsys):
    out, _ = trained
    result = main("train", "--dataset", "digits", "--epochs", "1", "--out", out, capsys=capsys)
    assert result.returncode == 1 and "already holds a checkpoint" in result.stderr


@pytest.mark.parametrize("args, code, message", [
    (["train", "--dataset", "cifar", "--out", "x"], 2, "invalid choice: 'cifar'"),
    (["train", "--hidden", "40O", "--out", "x"], 2, "comma-separated integers"),
    (["train", "--latent-dim", "0", "--out", "x"], 1, "latent_dim must be a number >= 1"),
    (["train", "--lr", "-1", "--out", "x"], 1, "lr must be a number > 0"),
    (["eval", "/no/such/checkpoint"], 1, "no such checkpoint"),
    (["frobnicate"], 2, "invalid choice"),
    (["train", "--device", "tpu", "--out", "x"], 1, "device must be one of auto, cpu, cuda"),
    (["eval", "x", "--iwae", "-5"], 2, "expected whole numbers of samples"),
    (["sweep", "--betas", ",".join(map(str, range(1, 2001))), "--out", "x"], 2, "at most 32 values of beta, got 2,000"),
    (["sweep", "--betas", "-1,1", "--out", "x"], 1, "beta must be a number >= 0, got -1"),  # not taken for a flag
    (["eval", "x", "--iwae", "-5,10"], 2, "expected whole numbers of samples"),
])
def test_bad_input_gives_one_line_and_a_nonzero_exit(args, code, message, capsys):
    result = main(*args, capsys=capsys)
    assert result.returncode == code
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_python_m_vae_core_exits_with_the_command_s_code():
    """The entry point a user runs: its exit status is what main returned or argparse exited with."""
    assert cli("train", "--lr", "-1", "--out", "x").returncode == 1
    assert cli("frobnicate").returncode == 2


@pytest.mark.parametrize("args, answer", [
    (["train", "--latent-dim", "0", "--out", "x"], "1"),
    (["sweep", "--betas", "1,3", "--lr", "-1", "--out", "x"], "1"),
    (["train", "--hidden", "100000,100000", "--out", "x"], "1"),
    (["train", "--dataset", "cifar", "--out", "x"], "exit 2"),
])
def test_a_mistake_in_the_flags_is_refused_before_torch_is_loaded(args, answer):
    """A typo is answered in a fraction of a second: loading torch alone takes about 2 s here."""
    script = ("import sys\nfrom vae_core.cli import main\ntry:\n    answer = main(sys.argv[1:])\n"
              "except SystemExit as e:\n    answer = f'exit {e.code}'\nprint(answer, 'torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == f"{answer} False", result.stdout + result.stderr
    assert result.stderr.startswith(("error: ", "python -m vae_core")), result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
@pytest.mark.parametrize("command", [["train"], ["sweep", "--betas", "1,2"]])
def test_asking_for_a_missing_gpu_is_one_line(command, tmp_path, capsys):
    result = main(*command, "--device", "cuda", "--out", str(tmp_path / "out"), capsys=capsys)
    assert result.returncode == 1 and "finds no CUDA GPU" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out").exists()  # refused before any folder was made


IDX_NAMES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz"]


def test_an_empty_data_folder_names_the_folder_searched_and_the_four_files(tmp_path, capsys, monkeypatch):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("VAE_CACHE_DIR", str(tmp_path / "cache"))
    result = main("train", "--dataset", "mnist", "--data-dir", tmp_path / "empty", "--out", tmp_path / "o",
                  capsys=capsys)
    assert result.returncode == 1
    assert "could not download mnist" in result.stderr and f"searched {tmp_path / 'empty' / 'mnist'}" in result.stderr
    assert f"into {tmp_path / 'empty'}/" in result.stderr and all(name in result.stderr for name in IDX_NAMES)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_missing_data_folder_is_named_with_the_four_files(tmp_path, capsys):
    result = main("train", "--dataset", "mnist", "--data-dir", tmp_path / "nowhere", "--out", tmp_path / "o",
                  capsys=capsys)
    assert result.returncode == 1
    assert f"data folder {tmp_path / 'nowhere'} does not exist" in result.stderr
    assert all(name in result.stderr for name in IDX_NAMES)
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize("flags, limit", [(["--latent-dim", "1000000000"], "latent_dim must be at most 512"),
                                          (["--hidden", "100000,100000"], "above the limit of 50,000,000")])
def test_a_huge_model_is_refused_in_one_line_with_the_limit(flags, limit, tmp_path, capsys):
    result = main("train", *flags, "--out", tmp_path / "o", capsys=capsys)
    assert result.returncode == 1 and limit in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def unwritable(tmp_path) -> list[tuple[Path, str]]:
    (tmp_path / "a-file").write_text("x")
    return [(tmp_path / "a-file", "it is a file, not a folder"),
            (tmp_path / "a-file" / "run", f"{tmp_path / 'a-file'} is a file, not a folder")]


@pytest.mark.parametrize("case", [0, 1])
def test_an_unwritable_out_is_refused_before_the_data_loads_or_training(tmp_path, case, capsys):
    out, why = unwritable(tmp_path)[case]  # (the data folder named does not exist: that error would come later)
    result = main("train", "--dataset", "mnist", "--data-dir", tmp_path / "nowhere", "--epochs", "500", "--out", out,
                  capsys=capsys)
    assert result.returncode == 1 and f"cannot write a checkpoint to {out}" in result.stderr and why in result.stderr
    assert "epoch" not in result.stderr  # no training happened: it failed before the first epoch
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_read_only_out_folder_is_refused_before_training():
    """As an unprivileged user (root may write anywhere), under a folder it may not write."""
    base = Path(tempfile.mkdtemp(prefix="vae-readonly-"))
    try:
        os.chmod(base, 0o755)
        (base / "locked").mkdir(mode=0o555)
        unprivileged = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
        env = {**os.environ, "HOME": str(base)}
        probe = subprocess.run(unprivileged + [sys.executable, "-c", "import vae_core"], cwd=ROOT, capture_output=True,
                               text=True, timeout=120, env=env)
        if probe.returncode != 0:  # (pyenv's Python 3.13 under /root: its libpython is not the unprivileged user's)
            pytest.skip(f"an unprivileged user cannot run {sys.executable} here: {probe.stderr.strip()[-200:]}")
        result = subprocess.run(unprivileged + [sys.executable, "-m", "vae_core", "train", "--epochs", "500", "--out",
                                                str(base / "locked" / "run")],
                                cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
        assert result.returncode == 1, result.stderr
        assert f"cannot write a checkpoint to {base / 'locked' / 'run'}" in result.stderr
        assert "Permission denied" in result.stderr and "epoch" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_corrupt_checkpoint_is_one_line(tmp_path, capsys):
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    result = main("eval", tmp_path, capsys=capsys)
    assert result.returncode == 1 and "not a readable safetensors" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_train_one_epoch_on_real_mnist(mnist_dir, tmp_path):
    result = cli("train", "--dataset", "mnist", "--data-dir", mnist_dir, "--latent-dim", "20", "--epochs", "1",
                 "--out", tmp_path / "m")  # precision auto: bf16 forced on a processor that emulates it took 26 s
    assert result.returncode == 0, result.stderr
    metrics = json.loads(cli("eval", tmp_path / "m", "--json", "--data-dir", mnist_dir).stdout)
    assert metrics["n"] == 10000 and metrics["nelbo"] < 140  # an untrained model scores about 545


def test_the_shipped_models_and_sweeps_are_what_their_recipes_make():
    """models/train_shipped.py replays recipes.json with the CLI (train, and sweep for the beta sweeps): every
    shipped checkpoint's config is the one its recipe's flags describe."""
    sys.path.insert(0, str(ROOT / "models"))
    import train_shipped

    from vae_core.checkpoint import sweep_members
    from vae_core.cli import build_parser
    from vae_core.flags import config_from_args

    commands = train_shipped.commands(json.loads((ROOT / "models" / "recipes.json").read_text()))
    for name, argv in commands.items():
        args = build_parser().parse_args(argv)
        made = config_from_args(args)
        if args.command == "sweep":
            shipped = sweep_members(ROOT / "models" / name)
            assert [s.config.beta for s in shipped] == args.betas
            assert all(s.config == made.replace(beta=s.config.beta) for s in shipped), name
        else:
            assert load_checkpoint(ROOT / "models" / name).config == made, name


def test_a_ray_address_with_nothing_behind_it_fails_in_seconds_and_leaves_nothing(tmp_path):
    import time

    start = time.time()
    result = cli("train", "--dataset", "digits", "--epochs", "1", "--ray", "127.0.0.1:1", "--out", tmp_path / "o")
    assert result.returncode == 1 and "nothing answers at 127.0.0.1:1" in result.stderr, result.stderr
    assert time.time() - start < 60 and not (tmp_path / "o").exists()
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_batch_larger_than_the_training_set_is_noted(tmp_path, trained, capsys):
    from vae_core import load_dataset

    images = len(load_dataset("digits").train_x)
    result = main("train", "--dataset", "digits", "--hidden", "16", "--epochs", "2", "--batch-size", "5000",
                  "--out", tmp_path / "o", capsys=capsys)
    assert result.returncode == 0, result.stderr
    assert (f"note: batch size 5,000 is more than digits's {images:,} training images: each epoch is one step over "
            "all of them, 2 steps in all") in result.stderr
    assert "batch size" not in trained[1].stderr  # (64: no note)


def test_more_threads_than_cores_and_emulated_bf16_are_warned_of(tmp_path):
    result = cli("train", "--dataset", "digits", "--hidden", "16", "--epochs", "1", "--threads", "999",
                 "--precision", "bf16", "--out", tmp_path / "o")
    assert result.returncode == 0, result.stderr
    assert f"--threads 999 is more than this machine's {os.cpu_count()} cores; using {os.cpu_count()}" in result.stderr
    from vae_core.training import native_bf16  # (what it reads is tested in test_training)

    emulated = not native_bf16(torch.device("cpu"))  # where an MNIST epoch took 26 s, not 2.0
    assert ("warning: precision bf16 on a processor without native bfloat16" in result.stderr) == emulated


@pytest.mark.parametrize("args, message", [
    (["eval", ROOT / "models" / "digits-2d", "--iwae", "10000000"], "at most 100,000 importance samples"),
    (["train", "--dataset", "digits", "--epochs", "1", "--out", ROOT / "models"], "models holds other checkpoints"),
    (["train", "--dataset", "digits", "--epochs", "1", "--out", "/tmp/" + "a" * 300], "File name too long"),
    (["info", "/tmp/" + "a" * 300], "File name too long"),
])
def test_what_would_run_for_hours_or_write_into_the_shipped_models_is_refused_in_one_line(args, message, capsys):
    result = main(*args, capsys=capsys)
    assert result.returncode in (1, 2) and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert sorted(p.name for p in (ROOT / "models").iterdir() if p.is_file()) == ["recipes.json", "train_shipped.py"]


def test_a_model_whose_code_carries_under_a_bit_is_told_so_beside_its_active_units(capsys):
    """"KL 0.06, 2/2 active units" read as a model that uses its code: a unit is active where its means vary,
    however little KL that costs. digits-8d-mean-recon carries 0.00 nats; digits-2d 3.3."""
    collapsed = main("eval", ROOT / "models" / "digits-8d-mean-recon", capsys=capsys).stdout
    assert "note: all the units together carry" in collapsed and "under one bit (0.69 nats)" in collapsed
    assert "note:" not in main("eval", ROOT / "models" / "digits-2d", capsys=capsys).stdout


def _signalled_after_epochs(command: list[str], sig: int, epochs_seen: str) -> tuple[int, str, str]:
    """Run the CLI, send it sig once its progress bars show epochs_seen (a regex); (exit code, stdout, stderr)."""
    import threading
    import time

    process = subprocess.Popen([sys.executable, "-m", "vae_core", *command], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, start_new_session=True)
    err = bytearray()
    chunks = lambda: iter(lambda: process.stderr.read1(4096), b"")  # noqa: E731
    reader = threading.Thread(target=lambda: [err.extend(chunk) for chunk in chunks()], daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while not re.search(epochs_seen, err.decode(errors="replace")) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(sig)
        out = process.stdout.read().decode()
        process.wait(60)
        reader.join(10)
    finally:
        process.kill()
        process.wait()
    return process.returncode, out, err.decode(errors="replace")


def test_ctrl_c_ends_a_training_after_its_step_and_keeps_the_finished_epochs(tmp_path):
    """As the app's Stop does: Ctrl-C threw away a run's finished epochs (an hour of MNIST, say), and a SIGTERM
    killed the command outright."""
    code, out, err = _signalled_after_epochs(["train", "--dataset", "digits", "--hidden", "32", "--epochs", "3000",
                                              "--out", str(tmp_path / "run")], signal.SIGINT, r"\| [3-9]/3000")
    assert code == 130, err[-2000:]
    done = int(re.search(r"stopped after (\d+) of 3000 epochs", err)[1])
    assert 3 <= done < 3000 and f"saved {tmp_path / 'run'}" in out
    assert len(load_checkpoint(tmp_path / "run").history) == done


def test_sigterm_ends_a_sweep_here_after_its_step_each_member_keeping_its_finished_epochs(tmp_path):
    code, out, err = _signalled_after_epochs(["sweep", "--dataset", "digits", "--hidden", "32", "--epochs", "3000",
                                              "--betas", "1,4", "--out", str(tmp_path / "s")], signal.SIGTERM,
                                             r"\| [3-9]/3000")
    assert code == 130, err[-2000:]
    for beta in ("1", "4"):
        done = int(re.search(rf"beta-{beta}: stopped after (\d+) of 3000 epochs; saved", out)[1])
        assert 3 <= done < 3000 and len(load_checkpoint(tmp_path / "s" / f"beta-{beta}").history) == done
