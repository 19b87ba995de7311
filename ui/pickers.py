"""Choosing a test image: a number input over the test set with a preview beside it, linked to the address bar."""
from __future__ import annotations

import streamlit as st

from vae_core import Dataset
from vae_core.evaluation import as_images

from . import links
from .images import thumbnail


PICKER_PX = 240  # a test image's number input: room for 5 digits and its buttons, not the page's width


def test_image_picker(data: Dataset, key: str, label: str = "Test image", default: int = 0,
                      disabled: bool = False, link: str = "image") -> int:
    """A number input over the test set with a small preview of the chosen image beside it; returns the index.

    It is set by a link's {link}=N (image=N: one picker a page has that name), and puts its index back into the
    link."""
    last = len(data.test_x) - 1
    from_link = links.take_number(link, low=0, high=last, whole=True)
    if from_link is not None:
        st.session_state[key] = from_link
    elif key not in st.session_state:  # the start value goes through the state too: a widget given both warns
        st.session_state[key] = min(default, last)
    # a row that keeps the preview beside the number at any width, and names the image's label (an 8x8 digit is
    # hard to tell: a lesson's "image 3" was read as whatever it looked like)
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="small")
    index = int(row.number_input(f"{label} (0-{last})", 0, last, key=key, disabled=disabled, width=PICKER_PX,
                                 persist_state="session"))  # (a page switch and back reset it to 0)
    with row:
        thumbnail(as_images(data.test_x[index], data.image_shape)[0],
                  note=f"label: {data.classes[int(data.test_y[index])]}")
    if not disabled:
        links.write(link, index)
    return index
