"""Plotly figures the pages show; built from plain arrays, no model code."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]


def latent_map(xy: np.ndarray, labels: np.ndarray, index: np.ndarray, classes, axis_titles,
               chosen: int | None = None, ellipse: tuple | None = None) -> go.Figure:
    """Scatter of 2-D latent positions, one WebGL trace per class; each point's customdata is its test index.

    chosen (a test index, if among index) is ringed; ellipse is ((cx, cy), (sx, sy)) drawn at 1 and 2 sigma."""
    fig = go.Figure()
    for k, name in enumerate(classes):
        mask = labels == k
        if mask.any():
            fig.add_trace(go.Scattergl(
                x=xy[mask, 0], y=xy[mask, 1], mode="markers", name=str(name), customdata=index[mask],
                marker=dict(size=5, color=PALETTE[k % len(PALETTE)], opacity=0.75),
                hovertemplate=f"{name}<br>image %{{customdata}}<extra></extra>"))
    if ellipse is not None:
        (cx, cy), (sx, sy) = ellipse
        t = np.linspace(0, 2 * np.pi, 80)
        for k in (1, 2):
            fig.add_trace(go.Scattergl(x=cx + k * sx * np.cos(t), y=cy + k * sy * np.sin(t), mode="lines",
                                     line=dict(color="black", width=1, dash="dot" if k == 2 else "solid"),
                                     name=f"{k} σ", hoverinfo="skip"))
    rows = np.flatnonzero(index == chosen) if chosen is not None else []
    if len(rows):
        # WebGL traces are drawn above SVG ones: the marks must be WebGL too to stay visible
        selected = rows[0]
        fig.add_trace(go.Scattergl(x=[xy[selected, 0]], y=[xy[selected, 1]], mode="markers", name="chosen",
                                 marker=dict(size=16, symbol="circle-open", color="black", line=dict(width=3)),
                                 hoverinfo="skip"))
    fig.update_layout(height=560, margin=dict(l=10, r=10, t=10, b=10), legend=dict(itemsizing="constant"),
                      xaxis_title=axis_titles[0], yaxis_title=axis_titles[1], dragmode="pan", clickmode="event+select")
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


def clicked_index(event) -> int | None:
    """The test index (customdata) of the point a plotly_chart selection event clicked, if any."""
    points = event.selection.points if event else []
    if points and points[0].get("customdata") is not None:
        return int(np.ravel(points[0]["customdata"])[0])
    return None


def training_curves(steps: list, history: list) -> go.Figure:
    """Train loss, reconstruction and KL by step (lines), and the test values after each epoch (markers)."""
    fig = go.Figure()
    if steps:
        s = np.array(steps)
        for col, name, color in ((1, "train loss", "#444"), (2, "train recon", PALETTE[0]), (3, "train KL", PALETTE[1])):
            fig.add_trace(go.Scatter(x=s[:, 0], y=s[:, col], mode="lines", name=name, line=dict(color=color)))
    if history:
        per_epoch = steps[-1][0] / len(history) if steps else 1
        x = [r["epoch"] * per_epoch for r in history]
        for key, name, color in (("test_nelbo", "test −ELBO", "#000"), ("test_recon", "test recon", PALETTE[0]),
                                 ("test_kl", "test KL", PALETTE[1])):
            fig.add_trace(go.Scatter(x=x, y=[r[key] for r in history], mode="markers", name=name,
                                     marker=dict(color=color, size=9, symbol="diamond")))
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="step",
                      yaxis_title="nats per image", legend=dict(orientation="h", y=1.02, yanchor="bottom"))
    return fig


def rate_distortion_plane(series: dict[str, list]) -> go.Figure:
    """Rate (KL) against distortion (reconstruction NLL) per model, with lines of constant negative ELBO.

    series maps a name to checkpoint summaries (vae_core.checkpoint.Summary); customdata carries their paths.
    """
    fig = go.Figure()
    series = {name: [{"rate": s.metrics["kl"], "distortion": s.metrics["recon"], "beta": s.config.beta,
                      "path": str(s.path)} for s in summaries] for name, summaries in series.items()}
    points = [p for ps in series.values() for p in ps]
    if points:
        top = max(p["rate"] + p["distortion"] for p in points) * 1.05
        low = min(p["rate"] + p["distortion"] for p in points)
        for level in np.linspace(low, top, 5):
            # D + R = level: every point on it has the same negative ELBO (beta = 1)
            fig.add_trace(go.Scatter(x=[0, level], y=[level, 0], mode="lines", hoverinfo="skip", showlegend=False,
                                     line=dict(color="#bbb", width=1, dash="dot")))
            fig.add_annotation(x=level * 0.04, y=level * 0.96, text=f"−ELBO {level:.0f}", showarrow=False,
                               font=dict(size=10, color="#999"), xanchor="left")
    for k, (name, ps) in enumerate(series.items()):
        fig.add_trace(go.Scatter(
            x=[p["rate"] for p in ps], y=[p["distortion"] for p in ps], mode="markers+lines+text", name=name,
            text=[f"β={p['beta']:g}" for p in ps], textposition="top right", customdata=[p["path"] for p in ps],
            marker=dict(size=13, color=PALETTE[k % len(PALETTE)]), line=dict(color=PALETTE[k % len(PALETTE)]),
            hovertemplate="β=%{text}<br>rate %{x:.2f} nats<br>distortion %{y:.2f} nats<extra></extra>"))
    if points:
        fig.update_xaxes(range=[-0.5, max(p["rate"] for p in points) * 1.15 + 1])
        fig.update_yaxes(range=[min(p["distortion"] for p in points) * 0.9, max(p["distortion"] for p in points) * 1.08])
    fig.update_layout(height=460, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="rate: KL(q(z|x) ‖ p(z)), nats",
                      yaxis_title="distortion: −log p(x|z), nats", legend=dict(orientation="h"))
    return fig


def kl_bars(kl_per_dim: list[float], activity: list[float], threshold: float, dims=None) -> go.Figure:
    """Average KL of each latent dimension (those in dims, in that order; all by default); collapsed units
    (posterior means that do not vary) in grey."""
    dims = list(range(len(kl_per_dim))) if dims is None else list(dims)
    active = [activity[i] > threshold for i in dims]
    fig = go.Figure(go.Bar(
        x=[f"z{i}" for i in dims], y=[kl_per_dim[i] for i in dims],
        marker_color=[PALETTE[0] if a else "#bbb" for a in active],
        customdata=np.array([activity[i] for i in dims]), text=["active" if a else "collapsed" for a in active],
        hovertemplate="%{x}: %{y:.3f} nats, %{text}<br>Var(μ) = %{customdata:.4f}<extra></extra>"))
    fig.update_layout(height=300, margin=dict(l=10, r=10, t=10, b=10), yaxis_title="KL, nats per image")
    return fig


def histogram_vs_normal(means: np.ndarray, draws: np.ndarray, name: str) -> go.Figure:
    """Histograms of posterior means and of posterior draws for one dimension, over the N(0, 1) density."""
    grid = np.linspace(-4, 4, 200)
    fig = go.Figure([
        go.Histogram(x=means, histnorm="probability density", name="posterior means μ", opacity=0.55,
                     marker_color=PALETTE[1], xbins=dict(start=-4, end=4, size=0.2)),
        go.Histogram(x=draws, histnorm="probability density", name="draws z ~ q(z|x)", opacity=0.55,
                     marker_color=PALETTE[0], xbins=dict(start=-4, end=4, size=0.2)),
        go.Scatter(x=grid, y=np.exp(-grid ** 2 / 2) / np.sqrt(2 * np.pi), name="N(0, 1)", line=dict(color="black")),
    ])
    fig.update_layout(barmode="overlay", height=300, margin=dict(l=10, r=10, t=30, b=10), title=name,
                      legend=dict(orientation="h", y=-0.15, font=dict(size=10)))
    return fig


def density_2d(z: np.ndarray, title: str) -> go.Figure:
    """Contours of the density of 2-D samples on a fixed [-4, 4] square."""
    fig = go.Figure(go.Histogram2dContour(x=z[:, 0], y=z[:, 1], histnorm="probability density", colorscale="Blues",
                                          xbins=dict(start=-4, end=4, size=0.4), ybins=dict(start=-4, end=4, size=0.4),
                                          showscale=False, contours=dict(coloring="fill")))
    fig.update_layout(height=340, margin=dict(l=10, r=10, t=30, b=10), title=title,
                      xaxis=dict(range=[-4, 4], title="z0"), yaxis=dict(range=[-4, 4], title="z1", scaleanchor="x"))
    return fig


def reparameterization_cloud(mu: np.ndarray, sigma: np.ndarray, z: np.ndarray, dims: tuple[int, int]) -> go.Figure:
    """Draws z = mu + eps * sigma in two dimensions, around the mean with its 1 and 2 sigma ellipses."""
    i, j = dims
    t = np.linspace(0, 2 * np.pi, 80)
    fig = go.Figure(go.Scatter(x=z[:, i], y=z[:, j], mode="markers", name="z = μ + ε σ",
                               marker=dict(size=7, color=PALETTE[0], opacity=0.7)))
    for k in (1, 2):
        fig.add_trace(go.Scatter(x=mu[i] + k * sigma[i] * np.cos(t), y=mu[j] + k * sigma[j] * np.sin(t), mode="lines",
                                 name=f"{k} σ", line=dict(color="black", width=1, dash="solid" if k == 1 else "dot")))
    fig.add_trace(go.Scatter(x=[mu[i]], y=[mu[j]], mode="markers", name="μ",
                             marker=dict(size=14, symbol="x", color="black")))
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=10, b=10), xaxis_title=f"z{i}", yaxis_title=f"z{j}")
    fig.update_yaxes(scaleanchor="x")
    return fig


def kl_curves(histories: dict[str, list[dict]]) -> go.Figure:
    """Test KL per epoch for several runs, to compare their schedules."""
    fig = go.Figure([go.Scatter(x=[r["epoch"] for r in h], y=[r["test_kl"] for r in h], mode="lines+markers",
                                name=name, line=dict(color=PALETTE[k % len(PALETTE)]))
                     for k, (name, h) in enumerate(histories.items())])
    fig.update_layout(height=320, margin=dict(l=10, r=10, t=40, b=10), xaxis_title="epoch",
                      yaxis_title="test KL, nats", legend=dict(orientation="h", y=1.02, yanchor="bottom"))
    fig.update_xaxes(tickformat="d")
    return fig
