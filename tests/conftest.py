"""Shared fixtures: an isolated download cache, Ray for the tests that ask for it, the local MNIST folder, small
trained digits models, a private runs folder for the pages."""
import gzip
import os
import struct
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from vae_core import Config, cluster, load_dataset, train_new
from vae_core.cluster import ClusterError
from waiting import holds_within, wait_until

ROOT = Path(__file__).resolve().parent.parent
# Where the tests, and the pages and servers they run, read MNIST: VAE_DATA_DIR, else ../shared/data/mnist, whether
# pytest runs from ./run test or directly (pages run in-process read VAE_DATA_DIR, not the tests' mnist_dir: two
# class-mode tests failed without it).
os.environ["VAE_DATA_DIR"] = os.environ.get("VAE_DATA_DIR") or str(ROOT.parent / "shared" / "data" / "mnist")

# An epoch of one step at learning rate 1: its loss is read before the update, which leaves weights whose test loss
# is not finite (as a walk-through's run did).
ONE_HUGE_STEP = Config(dataset="digits", latent_dim=64, lr=1.0, batch_size=4096, epochs=3)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Downloads (which fail here: no network) go to a fresh folder, never ~/.cache."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("VAE_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="session")
def ray_node(tmp_path_factory):
    """One real Ray node on 127.0.0.1, started for the first test that needs it and kept for the rest of the run;
    yields its address. Stopped at the end through its own processes."""
    from ray_cluster import ray_head

    logs = ROOT / "test-artifacts" if (ROOT / "test-artifacts").is_dir() else tmp_path_factory.mktemp("ray-logs")
    with ray_head(logs) as address:
        try:
            yield address
        finally:
            if "ray" in sys.modules:
                import ray

                end_left_jobs()
                ray.shutdown()  # this process's own connection, if a test made one


def end_left_jobs() -> None:
    """Stop the jobs tests left on the node (the likelihood curve a page started) before disconnecting: the thread
    following one would otherwise be ended by ray.shutdown() with an exception."""
    from vae_core.runs import submitted

    for job in submitted():
        job.stop()
    holds_within(lambda: not submitted(), 60)


@pytest.fixture
def jobs_ended():
    """Stops, at the test's end, the jobs it left on the cluster (a likelihood curve a page started on the way):
    left running, one took a core from the tests after it for 100 s."""
    yield
    end_left_jobs()


@pytest.fixture(scope="session")
def shared_app(tmp_path_factory):
    """One app server (an empty runs folder, no Ray) for the browser modules whose pages train nothing: each opens
    a chromium of its own on it (browser.page_on: a session of its own). Its start and first page, about 7 s, were
    paid by each module (the suite had passed 10 minutes); stopped by its process id when the session ends."""
    import browser

    env = {"VAE_RUNS_DIR": str(tmp_path_factory.mktemp("shared-runs")), "VAE_RAY_ADDRESS": ""}
    with browser.streamlit_server(browser.ROOT / "app.py", env=env, own_ray=False) as url:
        yield url


@pytest.fixture
def ray_address(ray_node, monkeypatch):
    """The session's Ray node, named by VAE_RAY_ADDRESS while the test runs, so that every job it starts (in this
    process, in an app server it starts, in a CLI subprocess) runs there. Every test that runs a job asks for it:
    for the others, connecting to Ray fails (see RayGate)."""
    monkeypatch.setenv("VAE_RAY_ADDRESS", ray_node)
    return ray_node


class RayGate:
    """Stands in for vae_core.cluster.connect during the run and connects only while a test that asked for
    ray_address runs. Any other test has no address, so connecting would start a local Ray inside pytest that the
    test would leak; the refusals are kept, so that the test fails even where a job's thread took the error."""

    def __init__(self, connect):
        self.connect, self.open, self.refused = connect, False, []

    def __call__(self, to: str | None = None) -> str:
        if not self.open:
            self.refused.append(threading.current_thread().name)
            raise ClusterError("this test did not ask for Ray: give it the ray_address fixture (tests/conftest.py)")
        return self.connect(to)


@pytest.fixture(scope="session", autouse=True)
def ray_gate():
    """The RayGate in place of vae_core.cluster.connect for the whole run, and no Ray address in the environment
    unless a test asks for ray_address."""
    gate = RayGate(cluster.connect)
    outside = os.environ.pop("VAE_RAY_ADDRESS", None)  # a cluster named outside the run is not the tests'
    cluster.connect = gate
    try:
        yield gate
    finally:
        cluster.connect = gate.connect
        if outside is not None:
            os.environ["VAE_RAY_ADDRESS"] = outside


@pytest.fixture(autouse=True)
def ray_only_when_asked(request, ray_gate):
    """Opens the gate for a test that asked for ray_address; fails any other test that tried to connect."""
    ray_gate.open = "ray_address" in request.fixturenames
    yield
    ray_gate.open = False
    refused, ray_gate.refused = ray_gate.refused, []
    if refused:
        pytest.fail(f"{request.node.nodeid} connected to Ray (in threads {', '.join(refused)}) without asking for "
                    "the ray_address fixture")


@pytest.fixture
def quiet_cluster():
    """Wait until no job of an earlier test (a likelihood curve, a stopped run) is still on the cluster, for tests
    that count running and queued jobs."""
    from vae_core.runs import submitted

    wait_until(lambda: not submitted(), 180, lambda: f"the cluster to be quiet: {submitted()}")


def mnist_folder() -> Path:
    """Where the tests look for MNIST: VAE_DATA_DIR (set above, to ../shared/data/mnist where it was not, even where
    a clone has no ../shared)."""
    return Path(os.environ["VAE_DATA_DIR"])


def mnist_present() -> bool:
    return (mnist_folder() / "train-images-idx3-ubyte.gz").exists()


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    if not mnist_present():
        pytest.skip(f"MNIST files not found in {mnist_folder()}: set VAE_DATA_DIR to the folder with the four IDX "
                    "files")
    return mnist_folder()


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="session")
def trained_digits(digits):
    """A small 2-D digits model, trained once for the session (a couple of seconds)."""
    config = Config(dataset="digits", hidden=(128,), latent_dim=2, epochs=20, batch_size=64, seed=3)
    model, history = train_new(config, digits)
    return model, history


@pytest.fixture
def private_runs(tmp_path, monkeypatch):
    """The runs a page saves go under the test's tmp_path/runs."""
    monkeypatch.setenv("VAE_RUNS_DIR", str(tmp_path / "runs"))


def write_idx(path: Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write uint8 data as an IDX file, gzip-compressed when the name ends in .gz."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    compress = path.suffix == ".gz" if compress is None else compress
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def write_idx_set(folder: Path, n_train=12, n_test=6, size=28, gz=True, seed=0) -> dict:
    """Four small MNIST-format files with random images and labels; returns the arrays written."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, size, size)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, size, size)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for stem, array in arrays.items():
        write_idx(folder / (stem + (".gz" if gz else "")), array)
    return arrays


def state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
