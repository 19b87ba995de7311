"""The installable package (`pip install -e .`), its console scripts, the README's notebook block, ./run's Python."""
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.request
from importlib.metadata import Distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from browser import free_port
from ray_cluster import stop_session

ROOT = Path(__file__).resolve().parent.parent
# What a clone holds that a build must not see: local environments, outputs, earlier builds.
NOT_IN_A_CLONE = shutil.ignore_patterns(".git", ".venv", "runs", "test-artifacts", "static", "build", "*.egg-info",
                                        "__pycache__")


def readme_notebook_block() -> str:
    """The ```python block of the README's "From a notebook" section."""
    section = ROOT.joinpath("README.md").read_text().split("\n## From a notebook\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the section should hold one python block"
    return blocks[0]


def test_the_readme_notebook_block_runs():
    result = subprocess.run([sys.executable, "-c", readme_notebook_block()], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    encoded = re.findall(r"^a (\d) is encoded at z = \(([-+.\d]+), ([-+.\d]+)\)$", result.stdout, re.M)
    assert len(encoded) == 5
    error = float(re.search(r"mean pixel error of their reconstructions: ([\d.]+)", result.stdout)[1])
    assert 0 < error < 0.25  # digits-2d reconstructs; an untrained decoder is off by about 0.4
    nelbo = [float(v) for v in re.search(r"test -ELBO by epoch \(nats\): \[(.*)\]", result.stdout)[1].split(",")]
    assert len(nelbo) == 3 and nelbo[-1] < nelbo[0]


@pytest.fixture(scope="module")
def editable(tmp_path_factory):
    """`pip install -e .` of a copy of this clone (the build writes into the folder it builds) into a scratch
    prefix, without dependencies: (clone, prefix's site-packages, prefix's bin, the distribution)."""
    tmp = tmp_path_factory.mktemp("package")
    clone, prefix = tmp / "clone", tmp / "prefix"
    shutil.copytree(ROOT, clone, ignore=NOT_IN_A_CLONE)
    # No build isolation: the setuptools torch brings along builds it, offline (an isolated build fetches one)
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                             "--disable-pip-version-check", "--no-warn-script-location", "-e", str(clone),
                             "--prefix", str(prefix)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    paths = sysconfig.get_paths(vars={"base": str(prefix), "platbase": str(prefix)})
    site, bin_dir = Path(paths["purelib"]), Path(paths["scripts"])
    [info] = site.glob("vae_lab-*.dist-info")
    return clone, site, bin_dir, Distribution.at(info)


def installed(editable, code: str, *args, cwd) -> subprocess.CompletedProcess:
    """Python code run with the prefix as a site folder (its .pth files read, as in the environment installed
    into), from a folder outside the clone."""
    _, site, _, _ = editable
    prelude = f"import site, sys; site.addsitedir({str(site)!r}); sys.argv = {['x', *map(str, args)]!r}\n"
    return subprocess.run([sys.executable, "-c", prelude + code], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def console_script(editable, name: str, *args, cwd) -> subprocess.CompletedProcess:
    """Run the console script pip wrote, as its own file, with the install's site folder active."""
    _, _, bin_dir, _ = editable
    code = f"import runpy; runpy.run_path({str(bin_dir / name)!r}, run_name='__main__')"
    return installed(editable, code, *args, cwd=cwd)


def test_the_install_declares_both_console_scripts(editable):
    *_, dist = editable
    scripts = {ep.name: ep.value for ep in dist.entry_points if ep.group == "console_scripts"}
    assert scripts == {"vae-lab": "vae_core.cli:main", "vae-lab-app": "vae_lab_app:main"}
    _, _, bin_dir, _ = editable
    assert (bin_dir / "vae-lab").is_file() and (bin_dir / "vae-lab-app").is_file()
    assert dist.metadata["Requires-Python"] in (">=3.11,<3.14", "<3.14,>=3.11")


def test_every_requirement_admits_the_pinned_version(editable):
    """A notebook environment that has the pinned packages installs nothing more, and torch's range admits no newer
    minor release (one would be a download of several GB)."""
    *_, dist = editable
    pins = {}
    for name in ("requirements.txt", "requirements-test.txt"):
        for line in ROOT.joinpath(name).read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                requirement = Requirement(line)
                pins[requirement.name.lower()] = next(iter(requirement.specifier)).version
    requirements = [Requirement(text) for text in dist.requires]
    core = {r.name for r in requirements if r.marker is None}
    assert core == {"torch", "numpy", "safetensors", "scikit-learn", "tqdm", "pillow"}
    for requirement in requirements:
        if requirement.name != "vae-lab":  # an extra naming another extra of this package
            assert requirement.specifier.contains(pins[requirement.name.lower()]), (requirement, pins)
    torch = next(r for r in requirements if r.name == "torch")
    assert not torch.specifier.contains("2.15.0")

    def extra(name):
        return {r.name for r in requirements if r.marker is not None and r.marker.evaluate({"extra": name})}
    assert extra("download") == {"torchvision"}
    assert extra("app") == {"vae-lab", "streamlit", "plotly", "ray"}  # vae-lab[download]: torchvision too
    assert extra("test") == {"vae-lab", "pytest", "playwright"}


def test_the_install_holds_the_library_and_the_launcher_only(editable, tmp_path):
    clone, *_ = editable
    code = ("import importlib.util, sys, vae_core, vae_lab_app\n"
            "print(vae_core.__file__)\nprint(vae_lab_app.__file__)\n"
            "print([m for m in ('streamlit', 'ray', 'torchvision') if m in sys.modules])\n"
            "print([m for m in ('ui', 'app_pages') if importlib.util.find_spec(m)])\n")
    result = installed(editable, code, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    core, launcher, loaded, found = result.stdout.splitlines()
    assert Path(core) == clone / "vae_core" / "__init__.py"
    assert Path(launcher) == clone / "vae_lab_app.py"
    assert loaded == "[]"  # importing the core loads neither the app's packages nor torchvision
    assert found == "[]"   # the app's own folders are not part of the install


def test_the_cli_script_runs_from_anywhere(editable, tmp_path):
    clone, *_ = editable
    result = console_script(editable, "vae-lab", "info", clone / "models" / "digits-2d", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"dataset\s+digits", result.stdout) and re.search(r"latent_dim\s+2", result.stdout)
    result = console_script(editable, "vae-lab", "info", tmp_path / "nothing-here", cwd=tmp_path)
    assert result.returncode == 1 and result.stderr.startswith("error:") and len(result.stderr.splitlines()) == 1


def test_the_app_script_starts_the_clones_app(editable, tmp_path):
    clone, site, bin_dir, _ = editable
    result = console_script(editable, "vae-lab-app", "--help", cwd=tmp_path)
    assert result.returncode == 0 and str(clone / "app.py") in result.stdout
    port = free_port()
    code = (f"import site, runpy, sys; site.addsitedir({str(site)!r}); "
            f"sys.argv = ['vae-lab-app', '--server.port', '{port}', '--server.address', '127.0.0.1', "
            f"'--server.headless', 'true']; runpy.run_path({str(bin_dir / 'vae-lab-app')!r}, run_name='__main__')")
    server = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None and time.time() < deadline, "the app did not start"
            time.sleep(0.3)
        # the same process, now Streamlit, running in the clone (where .streamlit/config.toml is read)
        assert Path(os.readlink(f"/proc/{server.pid}/cwd")) == clone
    finally:
        stop_session(server)


def test_a_plain_install_says_the_app_needs_a_clone(tmp_path):
    """Outside a clone (as in a wheel installed into site-packages) the launcher refuses in one line."""
    shutil.copy(ROOT / "vae_lab_app.py", tmp_path)
    result = subprocess.run([sys.executable, "-c", "import sys, vae_lab_app; sys.exit(vae_lab_app.main([]))"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.startswith(f"vae-lab-app: error: no app.py in {tmp_path};")
    assert "pip install -e" in result.stderr and len(result.stderr.splitlines()) == 1


# ./run's choice of interpreter, on a PATH of stand-ins that answer its version question as the named Python would.
def stand_in(folder: Path, name: str, version: str | None) -> None:
    """A command on PATH that says it is Python `version`, or (None) fails as a pyenv shim for an absent one does."""
    body = f"echo {version}" if version else f"echo 'pyenv: {name}: command not found' >&2; exit 127"
    folder.joinpath(name).write_text(f"#!/bin/sh\n{body}\n")
    folder.joinpath(name).chmod(0o755)


def run_python(folder: Path, python_bin: str | None = None) -> subprocess.CompletedProcess:
    for tool in ("bash", "dirname"):  # all that ./run needs before it picks
        if not folder.joinpath(tool).exists():
            folder.joinpath(tool).symlink_to(shutil.which(tool))
    env = {"PATH": str(folder), **({"PYTHON_BIN": python_bin} if python_bin else {})}
    return subprocess.run([shutil.which("bash"), str(ROOT / "run"), "python"], env=env, capture_output=True,
                          text=True, timeout=30)


def test_run_takes_the_first_python_from_3_11_to_3_13(tmp_path):
    stand_in(tmp_path, "python3.11", None)  # a shim that cannot run
    stand_in(tmp_path, "python3.12", "3.12")
    stand_in(tmp_path, "python3.13", "3.13")
    stand_in(tmp_path, "python3", "3.10")
    result = run_python(tmp_path)
    assert result.returncode == 0 and result.stdout.split()[0] == "python3.12", result.stderr
    assert run_python(tmp_path, python_bin="python3.13").stdout.split()[0] == "python3.13"
    assert run_python(tmp_path, python_bin="python3").stdout.split()[0] == "python3.12"  # 3.10: passed over


def test_run_asks_a_real_python_its_version(tmp_path):
    stand_in(tmp_path, "python3.11", "3.14")
    tmp_path.joinpath("python3").symlink_to(sys.executable)
    result = run_python(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["python3", sys.version.split()[0]]


def test_run_names_what_it_found_when_no_python_fits(tmp_path):
    stand_in(tmp_path, "python3.11", None)
    stand_in(tmp_path, "python3", "3.10")
    stand_in(tmp_path, "python3.14", "3.14")
    result = run_python(tmp_path, python_bin="python3.14")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == ("run: needs Python 3.11 to 3.13 as $PYTHON_BIN, python3.11, python3.12, python3.13 or "
                             "python3; found: python3.14 (3.14), python3.11 (does not run), python3 (3.10)\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run_python(empty).stderr.endswith("found: none of them\n")
