"""The KL trade-off page, run headless: the total under beta, the reduction lesson, the likelihood curve."""
import pytest

from headless import app_test as page
from headless import browser_pictures
from ui import state
from vae_core import load_checkpoint

pytestmark = pytest.mark.usefixtures("private_runs")


def _total_from_latex(at) -> float:
    import re
    return float(re.search(r"\\mathbf\{([\d.]+)\}", at.latex[0].value).group(1))


def test_trade_off_page_recomputes_the_total_when_beta_changes():
    at = page("app_pages/kl_tradeoff.py").run()
    assert not at.exception
    at.select_slider(key="tradeoff_beta").set_value(1.0).run()
    at_one = _total_from_latex(at)
    at.select_slider(key="tradeoff_beta").set_value(10.0).run()
    at_ten = _total_from_latex(at)
    kl = at.dataframe[0].value["KL, nats"].sum()
    assert at_ten - at_one == pytest.approx(9 * kl, abs=0.02)
    assert len(at.get("plotly_chart")) >= 3  # KL bars, reparameterisation cloud, histograms


def test_the_reduction_lesson_shows_beta_times_pixels_and_both_shipped_models():
    at = page("app_pages/kl_tradeoff.py").run()
    text = " ".join(m.value for m in at.markdown)
    assert "a β of 64 in disguise" in text
    assert "0 of 8 active units" in text and "6 of 8 active units" in text
    assert {"reduction_beta-1", "reduction_digits-8d-mean-recon"} <= set(browser_pictures(at))


def test_the_likelihood_curve_is_estimated_once_in_the_background_and_kept(tmp_path, ray_address):
    from vae_core import Config, load_dataset, save_checkpoint, train_new
    from vae_core.runs import CURVE_KS

    model, history = train_new(Config(dataset="digits", hidden=(32,), epochs=3), load_dataset("digits"))
    folder = str(save_checkpoint(model, tmp_path / "runs" / "mine", history.epochs, history.test))
    at = page("app_pages/kl_tradeoff.py", **{state.MODEL: folder}).run()
    assert not at.exception
    progress = [p.proto.text for p in at.get("progress")]
    assert any("estimating −log p(x)" in t or "queued" in t or "starting" in t for t in progress), progress
    from ui import resources
    job = resources.likelihood_curve(folder)
    job.join(timeout=180)
    assert job.state == "done", job.message
    kept = load_checkpoint(folder).metrics["iwae"]
    assert sorted(int(k) for k in kept) == list(CURVE_KS)
    nlls = [kept[str(k)]["iwae_nll"] for k in CURVE_KS]
    assert nlls[-1] < history.test["nelbo"] and nlls[-1] <= nlls[0] + 0.5  # tighter than the ELBO, as k grows
    at.run()
    assert any("tradeoff_gap" in chart.proto.id for chart in at.get("plotly_chart"))
    assert any("gap" in m.value and "nats per image" in m.value for m in at.markdown)


def test_the_reduction_lesson_shows_the_summed_loss_line_from_the_objective_beside_the_averaged_one():
    import inspect

    from headless import code_shown
    from vae_core import objective

    at = page("app_pages/kl_tradeoff.py").run()
    summed, averaged = ([line["text"] for line in code_shown(element.value)[0]] for element in at.get("html")[-2:])
    assert summed[0] in inspect.getsource(objective.bernoulli_nll) and 'reduction="none").sum(-1)' in summed[0]
    assert any("loss=recon.mean(-1) / divisor + beta * kl_term" in line for line in summed)
    assert any('reduction="mean"' in line for line in averaged)
