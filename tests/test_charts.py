"""The Plotly figures the pages show, built from plain lists as the pages build them."""
from ui.charts import MARKED_EPOCHS, training_curves


def curves(epochs: int):
    steps = [(s, 200 - s / 10, 180 - s / 10, 20.0) for s in range(0, epochs * 10, 5)]
    history = [{"epoch": e, "test_nelbo": 150 - e / 10, "test_recon": 130 - e / 10, "test_kl": 20.0}
               for e in range(1, epochs + 1)]
    return {trace.name: trace for trace in training_curves(steps, history).data}


def test_training_curves_mark_each_epoch_until_the_marks_would_merge_then_draw_a_dotted_line():
    few, many = curves(MARKED_EPOCHS), curves(MARKED_EPOCHS + 1)
    for name in ("test −ELBO", "test recon", "test KL"):
        assert few[name].mode == "markers" and len(few[name].x) == MARKED_EPOCHS
        assert many[name].mode == "lines" and many[name].line.dash == "dot" and len(many[name].x) == MARKED_EPOCHS + 1
    assert few["train loss"].mode == many["train loss"].mode == "lines"
