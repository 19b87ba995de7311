"""Plotly figures the pages show; built from plain arrays, no model code."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from vae_core.records import rate_note

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]
MARKED_EPOCHS = 40  # training curves: test values drawn as a marker per epoch up to this many, as a dotted line beyond
STAR_PX = 18        # latent_map's star, marking a drawing's posterior mean
MAP_PX = 500        # about how many pixels latent_map's span is drawn over (560 high, kept square)
# Every figure's font: a system one. Plotly's "Download plot as a PNG" draws the chart as an SVG image, which cannot
# use the page's web fonts (Streamlit's Source Sans): its text came out in a wider fallback font, cut where Plotly
# had measured the narrower one (the path norms' legend read "spherica"). In a system font the PNG is the chart.
FONT = "Arial, Helvetica, sans-serif"


def _figure(data=None) -> go.Figure:
    """An empty figure (or one of data's traces) in FONT: every chart here starts from one."""
    return go.Figure(data, layout=dict(font_family=FONT))


def latent_map(xy: np.ndarray, labels: np.ndarray, index: np.ndarray, classes, axis_titles,
               chosen: int | None = None, posterior: tuple | None = None, mark: str | None = None,
               also: tuple | None = None) -> go.Figure:
    """Scatter of 2-D latent positions, one WebGL trace per class; each point's customdata is its test index.

    chosen (a test index, if among index) is ringed; posterior (centre [2], covariance [2, 2]) is drawn as its
    1 and 2 sigma ellipses, and, if mark names it (say "your digit"), as a star at its centre; also (a centre [2],
    its name) as an open star."""
    fig = _figure()
    for k, name in enumerate(classes):
        mask = labels == k
        if mask.any():
            fig.add_trace(go.Scattergl(
                x=xy[mask, 0], y=xy[mask, 1], mode="markers", name=str(name), customdata=index[mask],
                marker=dict(size=5, color=PALETTE[k % len(PALETTE)], opacity=0.75),
                hovertemplate=f"{name}<br>image %{{customdata}}<extra></extra>"))
    if posterior is not None:
        centre, covariance = np.asarray(posterior[0], float), np.asarray(posterior[1], float)
        values, vectors = np.linalg.eigh(covariance)
        t = np.linspace(0, 2 * np.pi, 80)
        circle = np.stack([np.cos(t), np.sin(t)])  # the unit circle, mapped through the covariance's square root
        for k in (1, 2):
            x, y = centre[:, None] + k * vectors @ (np.sqrt(np.maximum(values, 0))[:, None] * circle)
            fig.add_trace(go.Scattergl(x=x, y=y, mode="lines", name=f"{k} σ", hoverinfo="skip",
                                       line=dict(color="black", width=1, dash="dot" if k == 2 else "solid")))
        if mark:
            fig.add_trace(go.Scattergl(x=[centre[0]], y=[centre[1]], mode="markers", name=mark, hoverinfo="name",
                                       marker=dict(size=STAR_PX, symbol="star", color="black",
                                                   line=dict(width=1, color="white"))))
    if also is not None:
        fig.add_trace(go.Scattergl(x=[float(also[0][0])], y=[float(also[0][1])], mode="markers", name=also[1],
                                   hoverinfo="name", marker=dict(size=STAR_PX, symbol="star-open", color="black",
                                                                 line=dict(width=2))))
    rows = np.flatnonzero(index == chosen) if chosen is not None else []
    if len(rows):
        # WebGL traces are drawn above SVG ones: the marks must be WebGL too to stay visible
        selected = rows[0]
        fig.add_trace(go.Scattergl(x=[xy[selected, 0]], y=[xy[selected, 1]], mode="markers", name="chosen",
                                 marker=dict(size=16, symbol="circle-open", color="black", line=dict(width=3)),
                                 hoverinfo="skip"))
    # (the top margin leaves room for Plotly's toolbar, which otherwise covers the legend's first entries)
    # the legend below the map, in rows: at its right it took half of a narrow column's width from a map kept square
    fig.update_layout(height=560, margin=dict(l=10, r=10, t=36, b=10),
                      legend=dict(itemsizing="constant", orientation="h", yanchor="top", y=-0.12),
                      xaxis_title=axis_titles[0], yaxis_title=axis_titles[1], dragmode="pan", clickmode="event+select")
    equal_scales(fig)
    return fig


def spread_under_star(xy: np.ndarray, posterior: tuple) -> float | None:
    """The largest σ of posterior (centre, covariance on the map's plane) where even its 2 σ ellipse lies under
    latent_map's star, else None: a drawing's posterior on mnist-2d has σ of 0.02 to 0.04, its ellipses 6 px
    across under an 18 px star, and the caption promised ellipses nobody could see."""
    largest = float(np.sqrt(max(float(np.linalg.eigvalsh(np.asarray(posterior[1], float)).max()), 0.0)))
    span = float(np.ptp(np.asarray(xy, float), axis=0).max()) or 1.0
    return largest if 2 * largest * MAP_PX / span < STAR_PX / 2 else None


def equal_scales(fig: go.Figure) -> None:
    """One unit as long on both axes, kept by narrowing the plotted area, not by widening an axis's range: in a
    narrow column a map 560 px tall widened z1 to ±25 around a cloud of ±3, a strip no point could be clicked in."""
    fig.update_xaxes(constrain="domain")
    fig.update_yaxes(scaleanchor="x", scaleratio=1, constrain="domain")


def clicked(event, plotted, what: str):
    """The customdata of the point a plotly_chart selection event clicked, if it is one of plotted (the customdata
    the chart was drawn with: test indices, checkpoint paths); None if nothing was clicked. The event comes from the
    browser, anything at all: a value never plotted gets a notice and None (the map's image 99999 or 'abc' gave a
    traceback on every rerun, and a path sent to the sweep plane was opened as a checkpoint, any file of the
    server's)."""
    points = event.selection.points if event else []
    if not points:
        return None
    value = points[0].get("customdata") if isinstance(points[0], dict) else None
    if isinstance(value, list) and len(value) == 1:  # (an array's customdata comes as a list)
        value = value[0]
    # each plotted value under itself: the one given back is the chart's own (a click's 5.0 comes back as test index 5)
    known = {v: v for v in (plotted.tolist() if isinstance(plotted, np.ndarray) else plotted)}
    if isinstance(value, (str, int, float)) and not isinstance(value, bool) and value in known:
        return known[value]
    from .decoder import refuse  # (it imports this module)
    refuse(what, value, "not a point of this chart")
    return None


def change_label(change: dict) -> str:
    """What a change made while a run trained says on its curves: "β = 5, lr = 0.002" (either or both)."""
    return ", ".join(f"{'β' if k == 'beta' else 'lr'} = {change[k]:g}" for k in ("beta", "lr") if k in change)


def training_curves(steps: list, history: list, steps_per_epoch: int, changes: list = ()) -> go.Figure:
    """Train −ELBO, reconstruction and KL by step (thin, faded lines: a batch's loss is noisy; −ELBO, not the
    optimised recon + β KL, so that it meets the test values and a β change does not move it), and the test values
    at the end of each epoch on top (markers, or a bold line once there are too many epochs for markers to stay
    apart), each outlined in white so that it stays visible over a dense train curve of its colour; a dashed line
    where β or the learning rate was changed while it trained (changes: {"step", "beta" and / or "lr"}). A stopped
    run's steps after its last finished epoch, whose weights it went back from, are left out with their changes
    (its test values had been spread over them, each a step further than its epoch's end)."""
    fig = _figure()
    if history:
        kept = len(history) * steps_per_epoch
        steps = [p for p in steps if p[0] <= kept]
        changes = [c for c in changes if c["step"] <= kept]
    if steps:
        s = np.array(steps)
        s[:, 1] = s[:, 2] + s[:, 3]
        for col, name, color in ((1, "train −ELBO", "#444"), (2, "train recon", PALETTE[0]),
                                 (3, "train KL", PALETTE[1])):
            fig.add_trace(go.Scatter(x=s[:, 0], y=s[:, col], mode="lines", name=name, opacity=0.45,
                                     line=dict(color=color, width=1)))
    for change in changes:
        fig.add_vline(x=change["step"], line=dict(color="#808495", dash="dash", width=1),
                      annotation_text=change_label(change), annotation_position="top right")
    if history:
        x = [r["epoch"] * steps_per_epoch for r in history]
        # a marker per epoch while they stay apart; beyond that they merge into bands over the train lines
        mode = "markers" if len(history) <= MARKED_EPOCHS else "lines"
        for key, name, color in (("test_nelbo", "test −ELBO", "#000"), ("test_recon", "test recon", PALETTE[0]),
                                 ("test_kl", "test KL", PALETTE[1])):
            y = [r[key] for r in history]
            if mode == "lines":  # a white band under the line: its outline
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines", line=dict(color="white", width=7), hoverinfo="skip",
                                         showlegend=False, name=f"{name} outline"))
            marker = dict(color=color, size=10, symbol="diamond", line=dict(color="white", width=1.5))
            fig.add_trace(go.Scatter(x=x, y=y, mode=mode, name=name, marker=marker, line=dict(color=color, width=3)))
    fig.update_layout(height=400, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="step",
                      yaxis_title="nats per image", legend=dict(orientation="h", yanchor="top", y=-0.18))
    return fig


PLANE_MARKER = 13   # px: the rate-distortion plane's points, each one clicked for its model
RATE_FLOOR = 1e-6   # nats: a rate below it (a model with every unit collapsed) is drawn at it on the log axis
PLANE_AREA = (340, 324)  # px: the plane's plotted area, as narrow as it is drawn with the sidebar open on an 800 px
                         # screen (600 in a 1024 px screen's main column; its height less the margins, the x axis
                         # and the legend): labels are kept apart there, and lie further apart on a wider one


def rate_distortion_plane(series: dict[str, list], colours: dict[str, str] | None = None) -> go.Figure:
    """Rate (KL, on a log axis) against distortion (reconstruction NLL) per model, with lines of constant negative
    ELBO at round values, each labelled with its value.

    The rate axis is logarithmic because a sweep's rates span decades: at β = 3 and β = 10 a digits model keeps
    0.06 and 0.0003 nats, which a linear axis scaled to β = 0.1's 14 nats draws 3 px apart, one point under the
    other's marker. Its ticks are labelled with their whole values (Plotly's own labelled 20 and 0.0002 as "2").
    series maps a name to checkpoint summaries (vae_core.checkpoint.Summary); customdata carries their paths;
    colours, a name's colour (else the palette's in series order)."""
    fig = _figure()
    series = {name: [{"rate": s.metrics["kl"], "distortion": s.metrics["recon"], "beta": s.config.beta,
                      "in_effect": s.config.effective_beta, "path": str(s.path)} for s in summaries]
              for name, summaries in series.items()}
    # each point's label: neighbours' apart, and a second series' on the other side (a sweep of your own at the
    # shipped settings lands on the shipped points)
    for k, ps in enumerate(series.values()):
        for i, p in enumerate(ps):
            p["label"] = f"β={p['beta']:g}" if p["in_effect"] == p["beta"] else f"β={p['in_effect']:g} in effect"
            p["side"] = "top right" if (i + k) % 2 == 0 else "bottom left"  # (a model trained on the reconstruction's
            # mean over pixels was labelled β=1 beside its collapsed point, where it trains as β × pixels)
    points = [p for ps in series.values() for p in ps]
    if points:
        rates = [max(p["rate"], RATE_FLOOR) for p in points]
        distortions = [p["distortion"] for p in points]
        x_range = (np.log10(min(rates)) - 0.3, np.log10(max(rates)) + 0.3)  # log10 units: half an octave spare
        pad = max(0.08 * (max(distortions) - min(distortions)), 0.02 * max(distortions), 0.5)
        y_range = (min(distortions) - pad, max(distortions) + pad)
        taken = _place_point_labels(points, x_range, y_range)
        for level, label in _elbo_levels([p["rate"] + p["distortion"] for p in points]):
            _elbo_line(fig, level, label, x_range, y_range, taken)
        tickvals, ticktext = _log_ticks(*x_range)
        fig.update_xaxes(type="log", range=list(x_range), tickvals=tickvals, ticktext=ticktext)
        fig.update_yaxes(range=list(y_range))
    for k, (name, ps) in enumerate(series.items()):
        # the labels' too: a sweep of your own beside the shipped one put two grey "β=0.3" side by side, neither
        # telling whose it was
        color = (colours or {}).get(name, PALETTE[k % len(PALETTE)])
        fig.add_trace(go.Scatter(
            x=[max(p["rate"], RATE_FLOOR) for p in ps], y=[p["distortion"] for p in ps], mode="markers+lines+text",
            name=name, text=[p["label"] for p in ps], customdata=[p["path"] for p in ps],
            textposition=[p["side"] for p in ps], textfont=dict(size=POINT_FONT, color=color),
            marker=dict(size=PLANE_MARKER, color=color), line=dict(color=color),
            # once a point is clicked, the others stay readable (Plotly's default faded their β labels to near white)
            unselected=dict(marker=dict(opacity=0.45), textfont=dict(color=color)),
            hovertext=[f"rate {p['rate']:.3g} nats" for p in ps],
            hovertemplate="%{text}<br>%{hovertext}<br>distortion %{y:.2f} nats<extra></extra>"))
    # (the top margin keeps the labels of lines that enter at the top out from under Plotly's toolbar)
    fig.update_layout(height=480, margin=dict(l=10, r=10, t=36, b=10),
                      # on two lines: in half of an 800 px page the one line lost its end ("nats (log")
                      xaxis_title="rate: KL(q(z|x) ‖ p(z)),<br>nats (log scale)",
                      yaxis_title="distortion: −log p(x|z), nats", legend=dict(orientation="h", yanchor="top", y=-0.24))
    return fig


POINT_FONT, LINE_FONT = 12, 10  # px: the points' β labels, the -ELBO lines' labels
LABEL_SIDES = ("top right", "bottom left", "bottom right", "top left")  # where a point's label may go


def _place_point_labels(points: list[dict], x_range, y_range) -> list:
    """Give each point's label (p["label"]) a side (p["side"]): its own, else the first of LABEL_SIDES that lies
    inside the plane and off every marker and label placed before it ("β=0.1" ran past the plane's edge at 800 px,
    then lay on "β=0.3"), else the first inside the plane. Returns the boxes taken (px): markers and labels."""
    places = [_plane_px(max(p["rate"], RATE_FLOOR), p["distortion"], x_range, y_range) for p in points]
    taken = [_marker_box(*at) for at in places]
    for p, at in zip(points, places):
        sides = [p["side"], *(side for side in LABEL_SIDES if side != p["side"])]
        boxes = [(side, _label_box(*at, p["label"], side, POINT_FONT)) for side in sides]
        p["side"], box = next(((side, b) for side, b in boxes if _clear(b, taken)),
                              next(((side, b) for side, b in boxes if _clear(b, [])), boxes[0]))
        taken.append(box)
    return taken


def _plane_px(rate: float, distortion: float, x_range, y_range) -> tuple[float, float]:
    """Where a point of the plane lies in PLANE_AREA, in px from its top left corner."""
    (x0, x1), (y0, y1), (width, height) = x_range, y_range, PLANE_AREA
    return (np.log10(rate) - x0) / (x1 - x0) * width, (y1 - distortion) / (y1 - y0) * height


def _label_box(x: float, y: float, text: str, side: str, font: int) -> tuple[float, float, float, float]:
    """The box (left, top, right, bottom; px) that Plotly draws text in at textposition side of the point (x, y)
    (a character about 0.6 of the font size wide; a marker's text starts past its edge)."""
    width, height, gap = 0.6 * font * len(text), 1.2 * font, PLANE_MARKER / 2 if font == POINT_FONT else 0
    left = x + gap if side.endswith("right") else x - gap - width
    top = y - gap - height if side.startswith("top") else y + gap
    return left, top, left + width, top + height


def _marker_box(x: float, y: float) -> tuple[float, float, float, float]:
    return x - PLANE_MARKER / 2, y - PLANE_MARKER / 2, x + PLANE_MARKER / 2, y + PLANE_MARKER / 2


def _overlap(a, b, gap: float = 2) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _clear(box, taken: list) -> bool:
    """Whether a label's box lies across the plane's width and on none of the boxes taken."""
    return box[0] >= 0 and box[2] <= PLANE_AREA[0] and not any(_overlap(box, other) for other in taken)


def _log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Ticks across the log10 range (low, high), each labelled with its whole value: 1, 2 and 5 times each power
    of ten over at most three decades, the powers alone over more, every multiple where those give fewer than three
    (Compare's plane of one MNIST model, 11 to 45 nats, had "20" alone)."""
    def within(steps):
        values = [m * 10.0 ** e for e in range(int(np.floor(low)), int(np.ceil(high)) + 1) for m in steps]
        return [v for v in values if low <= np.log10(v) <= high]

    values = within((1, 2, 5) if high - low <= 3 else (1,))
    if len(values) < 3:
        values = within(range(1, 10))
    return values, [f"{v:.0e}".replace("e-0", "e-") if v < 1e-4 else f"{v:g}" for v in values]


def _elbo_levels(elbos: list[float]) -> list[tuple[float, str]]:
    """Round values of the negative ELBO (a step of 1, 2 or 5 times a power of ten) from just below the lowest of
    elbos to just above the highest, about five of them, each with its label written exactly."""
    low, high = min(elbos), max(elbos)
    raw = max(high - low, 0.05 * high, 1e-3) / 4
    power = 10 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    decimals = max(0, -int(np.floor(np.log10(step))))
    first, last = int(np.floor(low / step)), int(np.ceil(high / step))
    return [(round(i * step, decimals), f"−ELBO {i * step:.{decimals}f}") for i in range(first, last + 1)]


def _elbo_line(fig: go.Figure, level: float, label: str, x_range, y_range, taken: list) -> None:
    """distortion + rate = level across the plane's log rate axis, labelled where it enters the plotted area (its
    left edge, or its top edge for a line that starts above it), or further along it where that label would lie on
    a box in taken (the points and their labels: "−ELBO 160" lay on "β=10"), and unlabelled where it would lie on
    one all along (Compare's β = 0.1 against β = 10 piled "−ELBO 29" to "32" on each other where the lines enter at
    the top; their neighbours' labels give the step); a line that never enters is left out."""
    rate = np.geomspace(10 ** x_range[0], 10 ** x_range[1], 200)
    distortion = level - rate
    inside = np.flatnonzero((distortion >= y_range[0]) & (distortion <= y_range[1]))
    if not len(inside):
        return
    side = "bottom right" if inside[0] else "top right"

    def box(i: int):
        return _label_box(*_plane_px(rate[i], distortion[i], x_range, y_range), label, side, LINE_FONT)

    at = next((i for i in inside if _clear(box(i), taken)), None)
    text = [""] * len(rate)
    if at is not None:
        taken.append(box(at))  # the next line's label keeps off this one ("−ELBO 30" lay on "−ELBO 32")
        text[at] = label
    fig.add_trace(go.Scatter(x=rate, y=distortion, mode="lines+text", text=text, hoverinfo="skip", showlegend=False,
                             textposition=side, textfont=dict(size=LINE_FONT, color="#888"),
                             line=dict(color="#bbb", width=1, dash="dot"),
                             unselected=dict(textfont=dict(color="#888"))))  # a clicked point leaves it readable


def kl_bars(kl_per_dim: list[float], activity: list[float], threshold: float, dims=None,
            top: float | None = None) -> go.Figure:
    """Average KL of each latent dimension (those in dims, in that order; all by default): active units in blue,
    collapsed ones (posterior means that do not vary) in grey, a legend naming both, and "active" written over an
    active unit whose bar is too short to see. top fixes the axis at [0, top] nats, so that models shown one after
    the other share it (each scaled to its own tallest bar, 7e-5 nats of collapse look like 2 nats of use)."""
    dims = list(range(len(kl_per_dim))) if dims is None else list(dims)
    active = {i: activity[i] > threshold for i in dims}
    # an active unit can carry too little KL for its bar to show (a blue bar of 0.01 nats read as collapsed, and a
    # lesson's count of active units came out one short): the word stands over it. (Each bar's word under its name
    # ran into its neighbours' wherever eight bars had less than 450 px, and tilted into a smear in half a page.)
    faint = set(_faint_active(kl_per_dim, activity, threshold, top))
    fig = _figure()
    for kind, colour in (("active", PALETTE[0]), ("collapsed", "#bbb")):
        shown = [i for i in dims if active[i] == (kind == "active")]
        if shown:
            fig.add_bar(x=[f"z{i}" for i in shown], y=[kl_per_dim[i] for i in shown], name=kind, marker_color=colour,
                        customdata=np.array([activity[i] for i in shown]),
                        text=["active" if i in faint else "" for i in shown], textposition="outside", textangle=-90,
                        textfont=dict(size=11, color=colour), constraintext="none",  # (not shrunk to the bar)
                        cliponaxis=False,
                        hovertemplate=f"%{{x}}: %{{y:.3g}} nats, {kind}<br>Var(μ) = %{{customdata:.3g}}<extra></extra>")
    names = [f"z{i}" for i in dims]
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=30, b=10), yaxis_title="KL, nats per image",
                      barmode="overlay", showlegend=True,  # (also where every unit is active: one series)
                      legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom"))
    fig.update_xaxes(categoryorder="array", categoryarray=names, tickmode="array", tickvals=names,
                     ticktext=[f"<span style='color:{PALETTE[0] if active[i] else '#999'}'>z{i}</span>" for i in dims])
    fig.update_yaxes(exponentformat="e", rangemode="tozero")  # no SI "μ" for micro-nats: μ is the posterior mean here
    if top is not None:
        fig.update_yaxes(range=[0, top])
    return fig


def _faint_active(kl_per_dim: list[float], activity: list[float], threshold: float, top: float | None) -> list[int]:
    """The active units whose KL is under 2% of the axis (top, else the tallest bar): too small for a bar to show."""
    top = max(kl_per_dim, default=0.0) if top is None else top
    return [i for i, (kl, a) in enumerate(zip(kl_per_dim, activity)) if a > threshold and kl < 0.02 * top]


def faint_active_named(kl_per_dim: list[float], activity: list[float], threshold: float,
                       top: float | None = None) -> str:
    """The active units too faint for their bars to show, named with their KL ("z1 (0.011 nats), z3 (0.0094
    nats)"), or "" if there is none."""
    faint = _faint_active(kl_per_dim, activity, threshold, top)
    return ", ".join(f"z{i} ({kl_per_dim[i]:.2g} nats)" for i in faint[:4]) + (", …" if len(faint) > 4 else "")


def faint_active_units(kl_per_dim: list[float], activity: list[float], threshold: float,
                       top: float | None = None) -> str:
    """A sentence on the active units whose KL is too small for their bars to be told (they are counted as active,
    and a reader counting bars would miss them; "too short to see" was read against a thin bar of 0.037 nats), and
    on what active means where they carry under a bit in all (a student read "3 of 8 units are active" at 0.05 nats
    as units that still carry the digit); else ""."""
    named = faint_active_named(kl_per_dim, activity, threshold, top)
    note = rate_note(float(sum(kl_per_dim)))
    if not named and not (note and any(a > threshold for a in activity)):
        return ""
    little = f" {note[0].upper()}{note[1:]}." if note else ""
    return ((f"Active with a bar under 2% of the axis, a few pixels at most: {named}. " if named else "")
            + "Active means its posterior means vary across images, however little KL that costs." + little)


def marginal_vs_normal(grid: np.ndarray, density: np.ndarray, means: np.ndarray, name: str) -> go.Figure:
    """One dimension of the aggregate posterior (the exact mixture's marginal density) against N(0, 1), over a
    histogram of the posterior means (which alone leave out each posterior's own spread)."""
    fig = _figure([
        go.Histogram(x=means, histnorm="probability density", name="posterior means μ", opacity=0.45,
                     marker_color=PALETTE[1], xbins=dict(start=grid[0], end=grid[-1], size=0.2)),
        go.Scatter(x=grid, y=density, name="aggregate posterior", line=dict(color=PALETTE[0], width=2.5)),
        go.Scatter(x=grid, y=np.exp(-grid ** 2 / 2) / np.sqrt(2 * np.pi), name="N(0, 1)",
                   line=dict(color="black", dash="dash")),
    ])
    # no legend (the page says what the three are once, above the eight): in a quarter of a narrow column each
    # plot's own legend squeezed it to half its width and cut its entries to "posteric"; the axis spans the grid
    fig.update_layout(barmode="overlay", height=260, margin=dict(l=10, r=10, t=30, b=10), title=name,
                      showlegend=False, xaxis=dict(range=[float(grid[0]), float(grid[-1])]))
    return fig


def aggregate_vs_prior(grid: np.ndarray, density: np.ndarray, prior: np.ndarray, dims: tuple[int, int]) -> go.Figure:
    """The aggregate posterior's density (filled contours) under the prior's exact contours (dashed, the levels of
    N(0, I) at 1, 2 and 3 standard deviations), on the same plane."""
    blues = [[0, "#ffffff"], [0.15, "#deebf7"], [0.5, "#6baed6"], [1, "#08306b"]]  # no density: white
    # The colour saturates at the densest 1% of the plane: a few tight clusters (a 2-D model's posteriors are a few
    # hundredths wide) would otherwise leave the rest of the mass too faint to see.
    top = float(np.percentile(density, 99)) or None
    fig = _figure(go.Contour(x=grid, y=grid, z=density, colorscale=blues, showscale=False, name="aggregate posterior",
                               zmin=0, zmax=top, zauto=top is None,
                               contours=dict(coloring="fill", showlines=False), ncontours=14,
                               hovertemplate="z%{x:.2f}, %{y:.2f}: %{z:.3f}<extra>aggregate posterior</extra>"))
    levels = np.exp(-0.5 * np.array([3.0, 2.0, 1.0]) ** 2) / (2 * np.pi)  # N(0, I)'s density on circles of radius k
    for k, level in zip((3, 2, 1), levels):
        # one legend entry for the three circles (it named the 1 σ one alone)
        name = "N(0, I) at 1, 2 and 3 σ" if k == 1 else f"N(0, I), {k} σ"
        fig.add_trace(go.Contour(x=grid, y=grid, z=prior, showscale=False, hoverinfo="skip", name=name,
                                 contours=dict(coloring="none", start=level, end=level, size=1, showlabels=False),
                                 line=dict(color="black", dash="dash", width=1.2), showlegend=k == 1))
    fig.update_layout(height=420, margin=dict(l=10, r=10, t=10, b=10),
                      xaxis=dict(title=f"z{dims[0]}", range=[grid[0], grid[-1]], constrain="domain"),
                      yaxis=dict(title=f"z{dims[1]}", range=[grid[0], grid[-1]], scaleanchor="x", constrain="domain"),
                      legend=dict(orientation="h", yanchor="top", y=-0.12))
    return fig


def reparameterization_cloud(mu: np.ndarray, sigma: np.ndarray, z: np.ndarray, dims: tuple[int, int]) -> go.Figure:
    """Draws z = mu + eps * sigma in two dimensions, around the mean with its 1 and 2 sigma ellipses."""
    i, j = dims
    t = np.linspace(0, 2 * np.pi, 80)
    fig = _figure(go.Scatter(x=z[:, i], y=z[:, j], mode="markers", name="z = μ + ε σ",
                               marker=dict(size=7, color=PALETTE[0], opacity=0.7)))
    for k in (1, 2):
        fig.add_trace(go.Scatter(x=mu[i] + k * sigma[i] * np.cos(t), y=mu[j] + k * sigma[j] * np.sin(t), mode="lines",
                                 name=f"{k} σ", line=dict(color="black", width=1, dash="solid" if k == 1 else "dot")))
    fig.add_trace(go.Scatter(x=[mu[i]], y=[mu[j]], mode="markers", name="μ",
                             marker=dict(size=14, symbol="x", color="black")))
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=10, b=10), xaxis_title=f"z{i}", yaxis_title=f"z{j}",
                      legend=dict(orientation="h", yanchor="top", y=-0.2))  # (at the right it halved a narrow plot)
    equal_scales(fig)
    return fig


def likelihood_gap(nelbo: float, estimates: dict) -> go.Figure:
    """The negative ELBO against -log p(x) estimated with k importance samples (k -> iwae_estimate's result). Each
    estimate's bar is the standard error of its gap to the negative ELBO, paired over the same test images (the
    images' own spread in -log p(x) cancels from a difference measured on each image)."""
    ks = sorted(estimates)
    gaps = [[estimates[k]["elbo_gap"], estimates[k]["elbo_gap_se"]] for k in ks]
    fig = _figure(go.Scatter(
        x=ks, y=[estimates[k]["iwae_nll"] for k in ks], mode="lines+markers",
        name="−log p(x), IWAE estimate (bars: ± one standard error of its gap to the −ELBO)",
        error_y=dict(array=[se for _, se in gaps], visible=True), marker=dict(size=10), customdata=gaps,
        line=dict(color=PALETTE[0]),
        hovertemplate="k = %{x}: %{y:.2f} nats, %{customdata[0]:.2f} ± %{customdata[1]:.2f} below the −ELBO"
                      "<extra></extra>"))
    fig.add_hline(y=nelbo, line=dict(color="black", dash="dash"), annotation_text=f"−ELBO {nelbo:.2f}",
                  annotation_position="top right")
    # each k labelled with its whole value (Plotly's log axis labels its minor ticks "2" and "5" in every decade);
    # the legend asked for: Plotly leaves a lone trace's out, and the blue line went unnamed on a projector
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=10, b=10), showlegend=True,
                      xaxis=dict(type="log", title="k, importance samples per image", tickvals=ks,
                                 ticktext=[f"{k:,}" for k in ks]),
                      yaxis_title="nats per image", legend=dict(orientation="h", yanchor="top", y=-0.25))
    return fig


def path_norms(paths: dict, latent_dim: int) -> go.Figure:
    """|z| along each interpolation path (name -> [steps, D]), beside √D, where N(0, I)'s mass concentrates."""
    fig = _figure()
    for k, (name, path) in enumerate(paths.items()):
        norms = np.linalg.norm(np.asarray(path, dtype=np.float64), axis=1)
        # the second path dashed, with open markers: where the two norms agree (two nearby ends, a 2-D model's
        # short paths) the first hid it
        fig.add_trace(go.Scatter(x=np.linspace(0, 1, len(norms)), y=norms, mode="lines+markers", name=name.lower(),
                                 line=dict(color=PALETTE[k % len(PALETTE)], dash="dash" if k else "solid"),
                                 marker=dict(symbol="circle-open" if k else "circle", size=9 if k else 6)))
    fig.add_hline(y=np.sqrt(latent_dim), line=dict(color="#999", dash="dot"),
                  annotation_text=f"√D = {np.sqrt(latent_dim):.2f}", annotation_position="top left")
    # from 0: an axis from 0.8 drew a straight middle of 1.2 between ends of 3.4 and 4.1 as if it reached 0
    fig.update_layout(height=280, margin=dict(l=10, r=10, t=30, b=10), xaxis_title="position along the path",
                      yaxis=dict(title=dict(text="|z|", font_size=16), rangemode="tozero"),
                      legend=dict(orientation="h", yanchor="top", y=-0.25))
    return fig


def unit_kl_groups(runs: dict[str, tuple[list[float], list[float]]], threshold: float,
                   floor: float | None = None) -> go.Figure:
    """Each unit's KL in several runs of one model, side by side: runs maps a name to (kl_per_dim, activity), each
    run in its kl_curves colour, a collapsed unit's bar hatched; floor, a free-bits λ, is a dashed line."""
    fig = _figure()
    for k, (name, (kls, activity)) in enumerate(runs.items()):
        # a run's active and collapsed units as two traces in one slot: a legend entry takes its trace's first bar's
        # look, and a run whose z0 had collapsed was named by a hatched square
        named = False  # the legend names a run once, by its first trace with bars (at β = 4 a run whose units had
        for kind, hatch in (("active", ""), ("collapsed", "/")):  # all collapsed was left out of it)
            units = [i for i, a in enumerate(activity) if (a > threshold) == (kind == "active")]
            fig.add_bar(x=[f"z{i}" for i in units], y=[kls[i] for i in units], name=name, legendgroup=name,
                        offsetgroup=name, showlegend=bool(units) and not named, marker_color=PALETTE[k % len(PALETTE)],
                        marker_pattern_shape=hatch,
                        hovertemplate=f"{name}<br>%{{x}}: %{{y:.3g}} nats, {kind}<extra></extra>")
            named = named or bool(units)
    fig.add_bar(x=[None], y=[None], name="collapsed (hatched)", marker_color="#bbb", marker_pattern_shape="/")
    names = [f"z{i}" for i in range(max(len(kls) for kls, _ in runs.values()))]
    fig.update_xaxes(categoryorder="array", categoryarray=names)
    if floor is not None:
        fig.add_hline(y=floor, line=dict(color="#444", width=1, dash="dash"), annotation_text=f"λ = {floor:g}",
                      annotation_position="top left", annotation_font=dict(size=11, color="#444"))
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10), barmode="group", yaxis_title="KL, nats per image",
                      legend=dict(orientation="h", yanchor="top", y=-0.15))
    fig.update_yaxes(rangemode="tozero")
    return fig


def kl_curves(histories: dict[str, list[dict]]) -> go.Figure:
    """Test KL per epoch for several runs, to compare their schedules."""
    fig = _figure([go.Scatter(x=[r["epoch"] for r in h], y=[r["test_kl"] for r in h], mode="lines+markers",
                                name=name, line=dict(color=PALETTE[k % len(PALETTE)]))
                     for k, (name, h) in enumerate(histories.items())])
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="epoch",
                      yaxis_title="test KL, nats per image", legend=dict(orientation="h", yanchor="top", y=-0.2))
    fig.update_xaxes(tickformat="d")
    return fig
