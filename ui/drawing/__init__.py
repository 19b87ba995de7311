"""The drawing pad: a learner draws a digit (mouse, pen or touch) and Python gets it as a PNG when a stroke ends.

A small wrapper around a components-v2 component (draw.js, draw.css: plain JavaScript, linked by ui.jslink with
the mounting it shares with ui/decoder's components).
"""
from __future__ import annotations

import base64
from pathlib import Path

import streamlit as st

from ..jslink import link

HERE = Path(__file__).resolve().parent
_component = st.components.v2.component("drawing_pad", css=(HERE / "draw.css").read_text(),
                                        js=link(HERE / "draw.js"))


def drawing_pad(*, key: str, size: int = 280, clear: int = 0) -> bytes | None:
    """Mount the pad (size CSS pixels square) and return the drawing as PNG bytes, or None while it is empty.

    The drawing stays the session's (a component state value) across reruns until Clear is pressed, or until
    clear changes (a counter Python raises to empty the pad).
    """
    result = _component(key=key, data={"key": key, "size": size, "clear": clear}, height="content",
                        default={"png": None}, on_png_change=lambda: None)
    url = result.png
    return base64.b64decode(url.split(",", 1)[1]) if url else None
