"""The Plotly figures the pages show, built from plain lists as the pages build them."""
import numpy as np
import pytest

from ui.charts import MARKED_EPOCHS, training_curves


def curves(epochs: int):
    steps = [(s, 200 - s / 10, 180 - s / 10, 20.0) for s in range(0, epochs * 10, 5)]
    history = [{"epoch": e, "test_nelbo": 150 - e / 10, "test_recon": 130 - e / 10, "test_kl": 20.0}
               for e in range(1, epochs + 1)]
    return {trace.name: trace for trace in training_curves(steps, history, 10).data}


def test_training_curves_mark_each_epoch_until_the_marks_would_merge_then_draw_a_line():
    few, many = curves(MARKED_EPOCHS), curves(MARKED_EPOCHS + 1)
    for name in ("test −ELBO", "test recon", "test KL"):
        assert few[name].mode == "markers" and len(few[name].x) == MARKED_EPOCHS
        assert many[name].mode == "lines" and len(many[name].x) == MARKED_EPOCHS + 1
    assert few["train −ELBO"].mode == many["train −ELBO"].mode == "lines"


def test_the_train_curve_is_minus_elbo_and_a_change_made_while_training_is_marked():
    """A β change moves the optimised loss, not the model: the train line is recon + KL, as the test values are."""
    steps = [(s, 100.0 + 4 * 10.0, 100.0, 10.0) for s in range(0, 100, 10)]  # loss = recon + 5 KL after a change
    fig = training_curves(steps, [], 10, [{"step": 40, "beta": 5.0}])
    line = next(t for t in fig.data if t.name == "train −ELBO")
    assert list(line.y) == [110.0] * 10
    [mark] = fig.layout.shapes
    assert mark.x0 == 40 and fig.layout.annotations[0].text == "β = 5"


def test_a_test_curve_is_drawn_over_a_dense_train_curve_outlined_and_bolder():
    """With many epochs the test values are lines: over a train curve of the same colour they must stay visible,
    so they come after every train trace (drawn on top), wider, on a white outline, and the train lines fade."""
    for traces in (list(curves(MARKED_EPOCHS + 20).values()), list(curves(5).values())):
        train = [t for t in traces if t.name.startswith("train")]
        test = [t for t in traces if t.name.startswith("test") and not t.name.endswith("outline")]
        last_train = max(traces.index(t) for t in train)
        assert all(traces.index(t) > last_train for t in test)
        assert all(t.opacity <= 0.5 and t.line.width <= 1 for t in train)
        for t in test:
            if t.mode == "lines":
                outline = next(o for o in traces if o.name == f"{t.name} outline")
                assert outline.line.color == "white" and outline.line.width > t.line.width >= 3 * train[0].line.width
                assert traces.index(outline) < traces.index(t)
            else:
                assert t.marker.line.color == "white" and t.marker.size >= 9


def _pixels(fig, width: float):
    """Each point of the plane's model traces in pixels of its plot area, width px wide (Streamlit stretches a
    chart over its column; the height, margins and the room the axis titles and legend take are the layout's)."""
    import numpy as np

    layout = fig.layout
    height = layout.height - layout.margin.t - layout.margin.b - 110  # x ticks and title, the legend below
    (x0, x1), (y0, y1) = layout.xaxis.range, layout.yaxis.range
    points = []
    for trace in fig.data:
        if trace.showlegend is False:  # the lines of constant -ELBO
            continue
        for x, y, beta in zip(trace.x, trace.y, trace.text):
            px = (np.log10(x) - x0) / (x1 - x0) * width if layout.xaxis.type == "log" else (x - x0) / (x1 - x0) * width
            points.append((beta, px, (y1 - y) / (y1 - y0) * height))
    return points


def _shipped_plane(dataset):
    from ui.charts import rate_distortion_plane
    from vae_core.checkpoint import summarize, sweep_members

    from headless import ROOT
    members = [summarize(s.path) for s in sweep_members(ROOT / "models" / "sweeps" / dataset)]
    return rate_distortion_plane({f"{dataset} (shipped)": members}), members


@pytest.mark.parametrize("dataset", ["digits", "mnist"])
def test_each_member_of_a_shipped_sweep_is_a_point_of_its_own_on_the_plane(dataset):
    """The markers' centres lie further apart than a marker is wide, plus 4 px, on a plane 600 px wide (the wide
    layout's main column at a 1024 px screen): a click on one lands on that one (digits' β = 3 sat 3-4 px from
    β = 10 under 13 px markers, and a click on β = 3 opened β = 10)."""
    import itertools
    import math

    from ui.charts import PLANE_MARKER

    fig, members = _shipped_plane(dataset)
    points = _pixels(fig, 600)
    assert len(points) == len(members) == 5
    for (a, ax, ay), (b, bx, by) in itertools.combinations(points, 2):
        assert math.dist((ax, ay), (bx, by)) >= PLANE_MARKER + 4, (a, b, math.dist((ax, ay), (bx, by)))
    for _, x, y in points:  # and every one inside the plotted area
        assert 0 <= x <= 600 and y >= 0
    # labels in their series' colour, also once a point is clicked (Plotly's default faded them to near white)
    trace = fig.data[-1]
    assert trace.textfont.color == trace.marker.color == trace.unselected.textfont.color
    assert trace.unselected.marker.opacity >= 0.4


@pytest.mark.parametrize("dataset", ["digits", "mnist"])
def test_every_line_of_constant_elbo_is_labelled_with_its_value_as_drawn(dataset):
    """Each dotted line carries one label, placed inside the plotted area, whose number is exactly the distortion
    plus rate of every point of the line (a 28.49 line once read "28", and 2 of 5 lines had no label)."""
    import re

    import numpy as np

    fig, members = _shipped_plane(dataset)
    lines = [t for t in fig.data if t.showlegend is False]
    assert len(lines) >= 3
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    elbos = [m.metrics["kl"] + m.metrics["recon"] for m in members]
    levels = []
    for line in lines:
        labels = [(x, y, t) for x, y, t in zip(line.x, line.y, line.text) if t]
        assert len(labels) == 1, labels
        x, y, text = labels[0]
        level = float(re.fullmatch(r"−ELBO (\d+(?:\.\d+)?)", text).group(1))
        assert np.allclose(np.array(line.x) + np.array(line.y), level, rtol=0, atol=1e-9)
        assert x0 <= np.log10(x) <= x1 and y0 <= y <= y1
        levels.append(level)
    assert min(levels) <= min(elbos) and max(levels) >= max(elbos)  # the lines span the models
    assert not fig.layout.annotations  # no label of another kind, unbound from its line


@pytest.mark.parametrize("dataset", ["digits", "mnist", "compare"])
def test_no_line_s_label_lies_on_a_point_or_its_label_and_the_rate_ticks_read_as_their_values(dataset):
    """On the 340 px plane of an 800 px window (and on the 600 px one of a 1024 px window): "−ELBO 160" lay on the
    MNIST sweep's "β=10", "−ELBO 30" on "−ELBO 32", "β=0.1" ran past the plane's edge, and Plotly's log axis
    labelled 20, 30 and 0.0002 as "2", "3" and "2" (β = 0.1 read as 4.7 nats of rate against the caption's 47.4).
    Compare's plane of the digits sweep's β = 0.1 against its β = 10 piled "−ELBO 29" to "32" on each other, where
    the lines enter at the top: a line with no clear place for its label is drawn unlabelled."""
    import numpy as np

    if dataset == "compare":
        from ui.charts import PALETTE, rate_distortion_plane
        from vae_core.checkpoint import summarize

        from headless import ROOT
        a, b = (summarize(ROOT / "models" / "sweeps" / "digits" / name) for name in ("beta-0.1", "beta-10"))
        fig = rate_distortion_plane({"A": [a], "B": [b]}, {"A": PALETTE[0], "B": PALETTE[1]})
    else:
        fig, _ = _shipped_plane(dataset)
    (x0, x1), (y0, y1) = fig.layout.xaxis.range, fig.layout.yaxis.range
    height = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b - 110  # as _pixels has it

    def box(x, y, text, side, font, gap, width):  # text drawn at side of (x, y), a character 0.6 of the font wide
        x, y = (np.log10(x) - x0) / (x1 - x0) * width, (y1 - y) / (y1 - y0) * height
        w, h = 0.6 * font * len(text), 1.2 * font
        left = x + gap if "right" in side else x - gap - w
        top = y - gap - h if "top" in side else y + gap
        return left, top, left + w, top + h

    def apart(a, b):
        return not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])

    for width in (340, 600):
        points, labels = [], []
        for trace in (t for t in fig.data if t.showlegend is not False):
            for x, y, text, side in zip(trace.x, trace.y, trace.text, trace.textposition):
                label = box(x, y, text, side, trace.textfont.size or 12, 6.5, width)
                marker = box(x, y, "", "top right", 0, 0, width)
                points += [label, (marker[0] - 6.5, marker[1] - 6.5, marker[0] + 6.5, marker[1] + 6.5)]
                assert 0 <= label[0] and label[2] <= width, (width, text, label)
        lines = [t for t in fig.data if t.showlegend is False]
        for line in lines:
            found = [(x, y, t) for x, y, t in zip(line.x, line.y, line.text) if t]
            assert len(found) <= 1 and (found or dataset == "compare"), found  # (a shipped sweep's all fit)
            for x, y, text in found:
                label = box(x, y, text, line.textposition, line.textfont.size, 0, width)
                assert all(apart(label, other) for other in points + labels), (width, text, label)
                labels.append(label)
        assert len(lines) >= 4 and len(labels) >= 3, (len(lines), len(labels))  # every line drawn, most labelled
    ticks = list(zip(fig.layout.xaxis.tickvals, fig.layout.xaxis.ticktext))
    assert len(ticks) >= 3 and all(float(text) == pytest.approx(value) for value, text in ticks), ticks
    assert all(x0 <= np.log10(value) <= x1 for value, _ in ticks)


def test_a_stopped_run_s_curves_end_at_its_last_finished_epoch_with_each_test_value_at_its_epoch_s_end():
    """Stopped ten steps into epoch 10 of 12-step epochs: 9 epochs kept, the test values at steps 12 to 108 (they
    were spread over the steps taken, at 13, 26, ... 118), and the steps and changes after 108, gone back from,
    left out."""
    steps = [(s, 130.0, 100.0, 30.0) for s in range(1, 119)]
    history = [{"epoch": e, "test_nelbo": 150.0, "test_recon": 130.0, "test_kl": 20.0} for e in range(1, 10)]
    fig = training_curves(steps, history, 12, [{"step": 65, "beta": 5.0}, {"step": 112, "beta": 1.0}])
    traces = {t.name: t for t in fig.data}
    assert list(traces["test −ELBO"].x) == [12 * e for e in range(1, 10)]
    assert max(traces["train −ELBO"].x) == 108
    assert [shape.x0 for shape in fig.layout.shapes] == [65]


def test_each_kl_bar_says_whether_its_unit_is_active_and_an_active_unit_too_small_to_see_is_named():
    """The shipped digits sweep's β = 1 has 6 active units, but z1's bar (0.009 nats) is as flat as the collapsed
    ones: a class counting bars for the lesson's question got 5. The active and the collapsed bars are two series
    a legend names, "active" stands over an active bar too short to see, and the caption names those units. (The
    word under every bar ran into its neighbours' in half a page at 800 px.)"""
    import json

    from ui.charts import faint_active_units, kl_bars
    from ui.resources import SHIPPED_DIR
    from vae_core.evaluation import ACTIVE_THRESHOLD

    metrics = json.loads((SHIPPED_DIR / "sweeps" / "digits" / "beta-1" / "metrics.json").read_text())["metrics"]
    fig = kl_bars(metrics["kl_per_dim"], metrics["activity"], ACTIVE_THRESHOLD)
    bars = {trace.name: trace for trace in fig.data}
    active = [int(z[1:]) for z in bars["active"].x]
    assert len(active) == metrics["active_units"] == 6 and 1 in active and 0 not in active
    assert sorted(active + [int(z[1:]) for z in bars["collapsed"].x]) == list(range(8))
    assert list(fig.layout.xaxis.categoryarray) == [f"z{i}" for i in range(8)]  # in order, whichever series
    worded = [z for trace in fig.data for z, text in zip(trace.x, trace.text) if text]
    assert worded == ["z1"] and bars["active"].text[active.index(1)] == "active"
    sentence = faint_active_units(metrics["kl_per_dim"], metrics["activity"], ACTIVE_THRESHOLD)
    assert "z1 (0.0092 nats)" in sentence and "z0" not in sentence
    assert faint_active_units([1.0, 0.5], [1.0, 0.4], ACTIVE_THRESHOLD) == ""
    assert "z1" in faint_active_units([1.0, 0.5], [1.0, 0.4], ACTIVE_THRESHOLD, top=30.0)  # on a shared axis
    # under a bit in all, every active bar in sight (a student's β = 3 run: 3 of 8 active at 0.05 nats, each bar the
    # axis's height): what active means is still said, with how little they carry; with none active, nothing
    little = faint_active_units([0.014, 0.013, 0.001], [0.02, 0.03, 0.001], ACTIVE_THRESHOLD)
    assert little.startswith("Active means its posterior means vary across images") and "under one bit" in little
    assert faint_active_units([0.0004, 0.0003], [0.001, 0.002], ACTIVE_THRESHOLD) == ""


def test_the_prior_s_three_circles_are_one_legend_entry_that_names_all_three():
    """The legend said "N(0, I), 1 σ" beside three dashed circles (1, 2 and 3 σ)."""
    import numpy as np

    from ui.charts import aggregate_vs_prior

    grid = np.linspace(-4, 4, 41)
    prior = np.exp(-0.5 * (grid[None] ** 2 + grid[:, None] ** 2)) / (2 * np.pi)
    fig = aggregate_vs_prior(grid, prior, prior, (0, 1))
    circles = [t for t in fig.data if t.name.startswith("N(0, I)")]
    assert sorted(t.contours.start for t in circles) == pytest.approx(
        sorted(np.exp(-0.5 * np.array([1.0, 2.0, 3.0]) ** 2) / (2 * np.pi)))
    assert [t.name for t in circles if t.showlegend] == ["N(0, I) at 1, 2 and 3 σ"]


def test_a_map_keeps_equal_scales_by_narrowing_its_plotted_area_not_by_widening_a_range():
    """In an 800 px window's narrow column the map widened z1 to ±25 around a cloud of ±3 (Plotly widens the range
    of an axis free to move): a strip no point could be clicked in."""
    import numpy as np

    from ui.charts import latent_map

    xy = np.random.default_rng(0).normal(size=(50, 2))
    fig = latent_map(xy, np.arange(50) % 10, np.arange(50), [str(k) for k in range(10)], ("z0", "z1"))
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1
    assert fig.layout.xaxis.constrain == "domain" and fig.layout.yaxis.constrain == "domain"


def test_a_model_trained_on_the_mean_over_pixels_is_labelled_with_the_beta_it_trains_as():
    """Compare's plane labelled digits-8d-mean-recon "β=1" beside its collapsed point: averaged over 64 pixels, it
    trains as β = 64 on the summed objective (the KL trade-off page says so)."""
    from ui.charts import rate_distortion_plane
    from vae_core.checkpoint import summarize

    from headless import ROOT
    summed, averaged = (summarize(ROOT / "models" / name) for name in ("digits-2d", "digits-8d-mean-recon"))
    assert averaged.config.beta == 1 and averaged.config.recon_reduction == "mean"
    fig = rate_distortion_plane({"A": [summed], "B": [averaged]})
    labels = [t.text[0] for t in fig.data if t.showlegend is not False]
    assert labels == [f"β={summed.config.beta:g}", "β=64 in effect"]


def test_each_run_is_named_in_the_unit_bars_legend_also_where_all_its_units_collapsed():
    """At β = 4 the Warm-up page's plain and warm-up runs have every unit collapsed: their names were left out of
    the legend (it named a run by its active units' trace), under a caption about "the three runs"."""
    from ui.charts import unit_kl_groups

    runs = {"plain": ([0.001, 0.002], [0.0, 0.0]), "free bits": ([0.5, 0.45], [0.3, 0.2]),
            "mixed": ([0.001, 0.7], [0.0, 0.5])}
    fig = unit_kl_groups(runs, 0.01, 0.5)
    named = [t.name for t in fig.data if t.showlegend is not False and len(t.x)]  # (an empty trace: no entry)
    assert named == ["plain", "free bits", "mixed", "collapsed (hatched)"]


def test_the_path_norms_start_at_zero():
    """From 0.8 up, a straight path's middle of 1.2 between ends of 3.4 and 4.1 was drawn as if it reached 0."""
    import numpy as np

    from ui.charts import path_norms
    z0, z1 = np.full(16, 0.85), np.full(16, -1.0)
    fig = path_norms({"Linear": np.linspace(z0, z1, 11), "Spherical": np.linspace(z0, z1, 11)}, 16)
    assert fig.layout.yaxis.rangemode == "tozero"


def test_the_iwae_estimates_line_is_named_in_a_legend_beside_the_elbo_line():
    """The KL trade-off page's "How far the ELBO is from the likelihood" named its dashed line "−ELBO 24.38" and left
    the blue line of estimates unnamed: Plotly draws no legend for a figure's only trace unless asked."""
    from ui.charts import likelihood_gap

    estimates = {k: {"iwae_nll": 24.3 - 0.1 * n, "elbo_gap": 0.1 * n, "elbo_gap_se": 0.08}
                 for n, k in enumerate((1, 10, 100, 1000))}
    fig = likelihood_gap(24.38, estimates)
    assert [t.name for t in fig.data] == [
        "−log p(x), IWAE estimate (bars: ± one standard error of its gap to the −ELBO)"]
    assert fig.layout.showlegend is True


def test_a_narrow_log_rate_axis_still_has_three_ticks_to_read_a_point_by():
    """A plane of one model spans 10^±0.3 about its rate: mnist-16d's 22.5 nats had the single tick "20"."""
    from ui.charts import _log_ticks

    values, labels = _log_ticks(np.log10(22.5) - 0.3, np.log10(22.5) + 0.3)
    assert labels == ["20", "30", "40"] and values == [20, 30, 40]
    assert _log_ticks(-4, 1.5)[1] == ["0.0001", "0.001", "0.01", "0.1", "1", "10"]  # over three decades: the powers
    assert _log_ticks(-1.2, 1.2)[1] == ["0.1", "0.2", "0.5", "1", "2", "5", "10"]
