"""Plotly figures the pages show; built from plain arrays, no model code."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf"]


def latent_map(xy: np.ndarray, labels: np.ndarray, index: np.ndarray, classes, axis_titles,
               selected: int | None = None, ellipse: tuple | None = None) -> go.Figure:
    """Scatter of 2-D latent positions, one WebGL trace per class; each point's customdata is its test index."""
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
            fig.add_trace(go.Scatter(x=cx + k * sx * np.cos(t), y=cy + k * sy * np.sin(t), mode="lines",
                                     line=dict(color="black", width=1, dash="dot" if k == 2 else "solid"),
                                     name=f"{k} σ", hoverinfo="skip"))
    if selected is not None:
        fig.add_trace(go.Scatter(x=[xy[selected, 0]], y=[xy[selected, 1]], mode="markers", name="chosen",
                                 marker=dict(size=16, symbol="circle-open", color="black", line=dict(width=3)),
                                 hoverinfo="skip"))
    fig.update_layout(height=560, margin=dict(l=10, r=10, t=10, b=10), legend=dict(itemsizing="constant"),
                      xaxis_title=axis_titles[0], yaxis_title=axis_titles[1], dragmode="pan", clickmode="event+select")
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return fig


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
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=10, b=10), xaxis_title="step",
                      yaxis_title="nats per image", legend=dict(orientation="h"))
    return fig
