"""What spans every page, run headless with AppTest: each page runs, a very wide latent stays in bounded
pieces, the sidebar's picker, MNIST missing, and pages that hold UI only."""

import pytest

from headless import app_test as page
from headless import ROOT, browser_pictures, images, sliders
from ui import navigation, state
from vae_core import load_checkpoint

PAGES = [p.script for p in navigation.PAGES]
pytestmark = pytest.mark.usefixtures("private_runs")


@pytest.mark.parametrize("path", PAGES)
def test_every_page_runs_without_exceptions(path):
    at = page(path).run()
    assert not at.exception, at.exception
    assert at.title, "every page has a title"
    assert at.sidebar.selectbox(key="_model_picker").value.endswith("digits-2d")


def test_the_sidebar_picker_offers_the_shipped_models():
    at = page("app_pages/home.py").run()
    picker = at.sidebar.selectbox(key="_model_picker")
    assert picker.value.endswith("digits-2d")  # options are read back as shown: by name alone, to fit
    assert picker.options == ["digits-2d", "digits-8d-mean-recon", "mnist-16d", "mnist-2d", "mnist-50d-binarized",
                              *[f"{data} sweep, β={beta}" for data in ("digits", "mnist")
                                for beta in ("0.1", "0.3", "1", "3", "10")]]  # (found on the Beta sweep page only)
    caption = next(c.value for c in at.sidebar.caption if c.value.startswith("MLP"))  # the rest, wrapped below
    metrics = load_checkpoint(ROOT / "models" / "digits-2d").metrics
    total = round(metrics["recon"], 2) + round(metrics["kl"], 2)  # the total shown is the sum of the terms shown
    assert "latent 2, β=1" in caption and "on digits" in caption and f"Test −ELBO {total:.2f}" in caption


def test_without_mnist_files_the_pages_say_what_is_missing_and_keep_the_decoder(tmp_path, monkeypatch):
    import streamlit as st

    monkeypatch.setenv("VAE_DATA_DIR", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()
    st.cache_resource.clear()  # a dataset loaded by an earlier test must not hide the missing files
    st.cache_data.clear()
    try:
        mnist = str(ROOT / "models" / "mnist-2d")
        at = page("app_pages/latent_map.py", **{state.MODEL: mnist}).run()
        assert not at.exception
        assert "mnist not found" in at.warning[0].value and "train-images-idx3-ubyte.gz" in at.warning[0].value
        assert at.button(key="download_mnist")  # offered, not forced
        assert "map_manifold" in browser_pictures(at)  # the decoded manifold still shows
        home = page("app_pages/home.py", **{state.MODEL: mnist}).run()
        assert not home.exception and not images(home)  # no reconstructions,
        assert "home_prior" in browser_pictures(home)  # but samples from the prior
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory):
    """A valid checkpoint with the most latent dimensions a config allows (the CLI can make one): no page may build
    a widget or a traversal row per dimension."""
    from vae_core import VAE, Config, save_checkpoint
    from vae_core.config import LARGEST
    return str(save_checkpoint(VAE(Config(dataset="digits", hidden=(16,), latent_dim=LARGEST["latent_dim"])),
                               tmp_path_factory.mktemp("wide") / "widest"))


# Ray: the KL page starts the likelihood-curve job for a model without stored estimates (stopped at the end).
@pytest.mark.parametrize("path", [p.script for p in navigation.PAGES])
def test_a_very_wide_latent_is_shown_in_bounded_pieces(wide_model, path, ray_address, jobs_ended):
    import time

    start = time.perf_counter()
    at = page(path, **{state.MODEL: wide_model}).run()
    assert not at.exception, at.exception
    assert len(at.slider) <= 70 and len(at.number_input) < 50 and len(at.selectbox) < 10
    assert time.perf_counter() - start < 60
    if path == "app_pages/latent_sliders.py":
        sent = sliders(at)
        assert len(sent["order"]) == 64 and sent["folded"] == 512 - 64 and len(sent["traversal"]["dims"]) == 16


def test_pages_hold_ui_only():
    """No page imports torch (or does tensor math): that lives in vae_core, called through one or two functions."""
    import ast

    for p in navigation.PAGES:
        tree = ast.parse((ROOT / p.script).read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not imported & {"torch", "numpy"}, (p.script, imported)
