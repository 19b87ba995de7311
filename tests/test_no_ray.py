"""Ray is loaded only to run jobs: importing vae_core and a plain train (train_new, or the CLI's train without
--ray or VAE_RAY_ADDRESS) never import it, each checked in a fresh interpreter."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fresh_python(code: str) -> subprocess.CompletedProcess:
    """Run code in a new interpreter at the repository root, with no Ray address in its environment."""
    env = {k: v for k, v in os.environ.items() if k != "VAE_RAY_ADDRESS"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


def test_importing_vae_core_and_training_never_import_ray():
    result = fresh_python(
        "import sys\n"
        "import vae_core\n"
        "config = vae_core.Config(dataset='digits', hidden=(16,), latent_dim=2, epochs=1)\n"
        "model, history = vae_core.train_new(config, vae_core.load_dataset('digits'))\n"
        "print(len(history.epochs), 'ray' in sys.modules)\n")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["1", "False"], result.stdout  # trained one epoch, and ray never imported


def test_the_cli_s_plain_train_never_imports_ray(tmp_path):
    out = tmp_path / "run"
    result = fresh_python(
        "import sys\n"
        "from vae_core.cli import main\n"
        f"code = main(['train', '--dataset', 'digits', '--hidden', '16', '--epochs', '1', '--out', {str(out)!r}])\n"
        "print(code, 'ray' in sys.modules)\n")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1].split() == ["0", "False"], result.stdout
    assert (out / "model.safetensors").exists()
