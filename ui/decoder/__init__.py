"""Pictures decoded in the browser from the model's own weights: the latent pad, the latent sliders and
decoded grids (interpolation strips, the manifold, prior samples). Moving a latent costs the server nothing.

Each component's module (pad.js, sliders.js, grid.js) extends view.js's DecodingView, which decodes with
decoder.js from the decoder weights packed by vae_core.export; ui.jslink joins a module with those it imports.
Component arguments are sent again with every rerun, so the weights never travel in them: they are served as a
static file whose URL names their content (ui.served), and only that URL is an argument; decoder.js fetches
each URL once per page and keeps the parsed decoder, shared by all the page's components. Latents a grid
decodes and the points behind the pad travel the same way, as float32 files. In the browser each component is
window.vaeLab.components[key], for the tests and benchmarks.
"""
from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import streamlit as st

from vae_core.config import finite
from vae_core.export import pack_decoder

from .. import served
from ..charts import PALETTE
from ..jslink import link
from ..links import excerpt
from ..state import RANGE

HERE = Path(__file__).resolve().parent
MOST_SLIDERS = 64  # sliders at most, on the pad and the sliders page: the first dimensions of order

SHOWN_SLIDERS = 8  # the sliders component shows this many; the rest fold away


def component(name: str, script: str):
    """The component whose module is script (a file here, linked with what it imports), styled by decoder.css."""
    return st.components.v2.component(name, css=(HERE / "decoder.css").read_text(),
                                      js=served.module(link(HERE / script)))


_pad = component("latent_pad", "pad.js")
_sliders = component("latent_sliders", "sliders.js")
_grid = component("decoded_grid", "grid.js")
_packed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> (blob, digest); never edited
_lock = threading.Lock()


def latent_pad(model, z: Sequence[float], *, key: str, dims: tuple[int, int] = (0, 1),
               order: Sequence[int] | None = None,
               background: tuple[np.ndarray, np.ndarray | None] | None = None,
               classes: Sequence[str] = (), on_release: Callable[[list[float]], None] | None = None,
               ) -> list[float] | None:
    """Mount the pad for a vae_core VAE (MLP or conv decoder); returns the last point released (None before the
    first).

    z is the starting point (latent_dim floats within +-state.RANGE); the pad spans dims (horizontal,
    vertical), the other coordinates stay at z's values unless the pad's sliders move them: one for each of
    the first MOST_SLIDERS dimensions in order (dimension indices, e.g. most informative first; index order
    by default). background is (points
    [N, 2] in the pad's coordinates, labels [N] or None) drawn behind the handle, coloured by label and
    named by classes in the legend. on_release(point) runs before the script when the user lets go of the
    handle or a slider, so the whole rerun already sees the new point; a release that does not parse
    (parse_release) gets a notice instead. z is the session's point: the pad shows it unless one of its own
    releases has yet to reach Python.
    """
    latent_dim = model.config.latent_dim
    if len(z) != latent_dim:
        raise ValueError(f"z has {len(z)} coordinates, the model's latent space {latent_dim}")
    if len(dims) != 2 or dims[0] == dims[1] or not all(0 <= d < latent_dim for d in dims):
        raise ValueError(f"dims must be two different dimensions below {latent_dim}, got {dims}")
    order = list(order) if order is not None else list(range(latent_dim))
    data = {
        "key": key, "decoder": decoder_url(model), "z": [float(v) for v in z], "dims": [int(d) for d in dims],
        "extent": RANGE, "order": [int(d) for d in order[:MOST_SLIDERS]],
        "classes": list(classes), "palette": PALETTE, "background": None,
    }
    if background is not None:
        points, labels = background
        points = np.ascontiguousarray(points, dtype="<f4")
        if labels is None:  # one colour, no legend
            labels, data["classes"] = np.zeros(len(points)), []
        # float32 (x, y) pairs, then one uint8 label per point
        blob = points.tobytes() + np.asarray(labels, np.uint8).tobytes()
        data["background"] = {"url": served.url(blob), "count": len(points)}
    data["seen"], point = _applied(key, latent_dim)
    _pad(key=key, data=data, height="content",
         on_release_change=lambda: _released(key, latent_dim, "latent pad", on_release))
    return point


def latent_sliders(model, z: Sequence[float], *, key: str, order: Sequence[int], traversal_dims: Sequence[int],
                   traversal_values: Sequence[float], on_release: Callable[[list[float]], None] | None = None,
                   ) -> list[float] | None:
    """Mount sliders over the first MOST_SLIDERS dimensions in order (SHOWN_SLIDERS shown, the rest folded
    away; the other latent dimensions keep z's values), the digit they decode, and a traversal strip with one
    row per dimension in traversal_dims sweeping traversal_values, all decoded in the browser as a slider moves.

    on_release(point) runs before the script when the user lets go of a slider (nothing is sent while
    dragging; a release that does not parse gets a notice instead); returns the last point released (None before
    the first). z is the session's point, shown unless one of the sliders' own releases has yet to reach Python.
    The traversal's PNG button saves it labelled, enlarged as decoded_grid's.
    """
    if len(z) != model.config.latent_dim:
        raise ValueError(f"z has {len(z)} coordinates, the model's latent space {model.config.latent_dim}")
    order = [int(d) for d in order[:MOST_SLIDERS]]
    data = {"key": key, "decoder": decoder_url(model), "z": [float(v) for v in z], "extent": RANGE,
            "order": order, "shown": SHOWN_SLIDERS, "folded": len(z) - len(order),
            "traversal": {"dims": [int(d) for d in traversal_dims], "values": [float(v) for v in traversal_values]},
            "imageWidth": 336, "stripWidth": 720}
    data["seen"], point = _applied(key, len(z))
    _sliders(key=key, data=data, height="content",
             on_release_change=lambda: _released(key, len(z), "sliders", on_release))
    return point


def decoded_grid(model, latents, *, key: str, nrow: int, width: int = 520, caption: str = "",
                 download: str = "decoded.png") -> None:
    """Decode latents [N, D] in the browser and tile them nrow to a row, with grid_padding's white gaps as
    vae_core.evaluation.image_grid lays them out, about width CSS pixels wide; a button saves it as download, each
    pixel a square of whole pixels and the picture at least 1024 wide (view.js's SAVED_WIDTH, for a slide)."""
    z = np.ascontiguousarray(np.asarray(latents, dtype="<f4").reshape(-1, model.config.latent_dim))
    data = {"key": key, "decoder": decoder_url(model), "latents": served.url(z.tobytes()), "count": len(z),
            "dim": z.shape[1], "nrow": int(nrow), "padding": grid_padding(len(z)), "width": int(width),
            "caption": caption, "download": download}
    _grid(key=key, data=data, height="content")


def grid_padding(count: int) -> int:
    """The white pixels around and between a decoded_grid's count pictures: 1, and none around a picture alone (a
    border would shift it off the line of a picture beside it, by a whole scaled pixel)."""
    return 0 if count == 1 else 1


def grid_scale(image_width: int, width: int, nrow: int = 1, count: int = 1) -> int:
    """The CSS pixels one image pixel takes in a decoded_grid of count images, nrow to a row, about width wide
    (view.js's TileCanvas: the largest whole multiple that fits), to draw another picture beside it at the same
    size."""
    padding = grid_padding(count)
    return max(1, width // (nrow * (image_width + padding) + padding))


def parse_release(value, latent_dim: int) -> tuple[list[float], int]:
    """A release as the pad and the sliders send it (base.js's sendRelease): {"z": latent_dim finite numbers within
    +-RANGE, "n": its number, a whole number from 1}; returns (z, n). ValueError for anything else a browser could
    send (our components send nothing else, but a page's console can)."""
    if not isinstance(value, dict) or set(value) != {"z", "n"}:
        raise ValueError("not a released point")
    z, n = value["z"], value["n"]
    if not (isinstance(n, int) and not isinstance(n, bool) and 1 <= n < 2 ** 53):
        raise ValueError("its number is not a whole number from 1")
    if not (isinstance(z, list) and len(z) == latent_dim and all(
            finite(v) and abs(v) <= RANGE
            for v in z)):
        raise ValueError(f"not {latent_dim} numbers from {-RANGE:g} to {RANGE:g}")
    return [float(v) for v in z], n


def refuse(what: str, value, why: str) -> None:
    """Tell the user that a value their browser sent from a component was ignored, and why, in a few words."""
    st.toast(f"Ignored what the {what} sent, {excerpt(value)}: {why}.", icon=":material/block:")


def _sent(key: str):
    """What the component last sent as its release (None before the first): anything at all."""
    component_state = st.session_state.get(key)
    return component_state.get("release") if hasattr(component_state, "get") else None


def _applied(key: str, latent_dim: int) -> tuple[int | None, list[float] | None]:
    """The number of the release the session has applied and its point, (None, None) before the first. The component
    shows Python's point only once its own last release is among those applied (view.js's takes)."""
    try:
        z, n = parse_release(_sent(key), latent_dim)
    except ValueError:
        return None, None
    return n, z


def _released(key: str, latent_dim: int, what: str, on_release: Callable[[list[float]], None] | None) -> None:
    value = _sent(key)
    if value is None:
        return
    try:
        z, _ = parse_release(value, latent_dim)
    except ValueError as e:
        refuse(what, value, str(e))
        return
    if on_release is not None:
        on_release(z)


def decoder_url(model) -> str:
    """Where the browser fetches model's packed decoder (float32: float16 weights miss torch's by up to 3e-3)."""
    return served.url(*_packed_decoder(model))


def _packed_decoder(model) -> tuple[bytes, str]:
    """The packed decoder and its digest, computed once per model object."""
    with _lock:
        if model not in _packed:
            blob = pack_decoder(model)
            _packed[model] = blob, served.digest(blob)
        return _packed[model]
