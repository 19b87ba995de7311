"""The drawing pad: a learner draws a digit (mouse, pen or touch) and Python gets it as a PNG when a stroke ends.

A small wrapper around a components-v2 component (draw.js, draw.css: plain JavaScript, linked by ui.jslink with
the mounting it shares with ui/decoder's components).
"""
from __future__ import annotations

import base64
import binascii
from pathlib import Path

import streamlit as st

from .. import served
from ..decoder import refuse
from ..jslink import link

HERE = Path(__file__).resolve().parent
PREFIX = "data:image/png;base64,"  # what the pad sends: canvas.toDataURL("image/png")
MOST_URL = 1_000_000  # characters of that URL at most, read before decoding (a 280-pixel pad's: tens of kB)
_component = st.components.v2.component("drawing_pad", css=(HERE / "draw.css").read_text(),
                                        js=served.module(link(HERE / "draw.js")))


def drawing_pad(*, key: str, size: int = 280, clear: int = 0) -> bytes | None:
    """Mount the pad (size CSS pixels square) and return the drawing as PNG bytes, or None while it is empty (or
    what the browser sent is no drawing: a notice says so).

    The drawing stays the session's (a component state value) across reruns until Clear is pressed, or until
    clear changes (a counter Python raises to empty the pad).
    """
    result = _component(key=key, data={"key": key, "size": size, "clear": clear}, height="content",
                        default={"png": None}, on_png_change=lambda: _changed(key))
    try:
        return parse_drawing(result.png)
    except ValueError:
        return None


def parse_drawing(value) -> bytes | None:
    """The pad's "png" state: None (an empty pad) or a PNG data URL of at most MOST_URL characters; returns its
    bytes. ValueError for anything else a browser could send."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith(PREFIX):
        raise ValueError("not a PNG data URL")
    if len(value) > MOST_URL:
        raise ValueError(f"over {MOST_URL:,} characters")
    try:
        return base64.b64decode(value[len(PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None


def _changed(key: str) -> None:
    component_state = st.session_state.get(key)
    value = component_state.get("png") if hasattr(component_state, "get") else None
    try:
        parse_drawing(value)
    except ValueError as e:
        refuse("drawing pad", value, str(e))
