"""Pictures drawn by the server: crisp enlarged images (hard pixel edges), small previews, and test images over
their reconstructions. (Pictures of latent points alone are decoded in the browser: ui.decoder.)"""
from __future__ import annotations

import base64
import html
import io

import numpy as np
import streamlit as st
import torch
from PIL import Image

from vae_core.evaluation import reconstruction_rows


def enlarge(image: torch.Tensor | np.ndarray, size: int) -> np.ndarray:
    """A [H, W] image in [0, 1] as uint8, enlarged by an integer factor to about size pixels wide, with hard
    pixel edges (no blur)."""
    array = image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    factor = max(1, size // array.shape[1])
    array = np.repeat(np.repeat(array, factor, 0), factor, 1)
    return (np.clip(array, 0, 1) * 255).round().astype(np.uint8)


def thumbnail(image, size: int = 56, alt: str = "test image", note: str = "") -> None:
    """An inline picture of a [H, W] image, size CSS pixels wide (the browser enlarges it without blur): a preview
    beside a control, or a model's input, kept out of the page's st.image elements so that those stay the model's
    outputs; note, a few words beside it."""
    buffer = io.BytesIO()
    Image.fromarray(enlarge(image, 1)).save(buffer, format="PNG")
    data = base64.b64encode(buffer.getvalue()).decode()
    img = (f'<img src="data:image/png;base64,{data}" width="{size}" height="{size}" '
           f'style="image-rendering: pixelated; border-radius: 4px; max-width: 100%; height: auto" alt="{alt}">')
    if note:
        img = (f'<div style="display: flex; align-items: flex-end; gap: 0.5rem">{img}<span style="font-size: 0.85rem; '
               f'opacity: 0.65; white-space: nowrap">{html.escape(note)}</span></div>')
    st.html(img)


FRAME = 128  # the grey of the 2 px frame show_image draws: white ink on an image's edge (an 8x8 digit fills its
             # box) ran into the white page, and a drawn 7's bar looked cut off


def show_image(image, size: int = 280, caption: str | None = None) -> None:
    framed = np.pad(enlarge(image, size), 2, constant_values=FRAME)
    st.image(framed, caption=caption, output_format="PNG")  # JPEG would blur the pixel edges


def show_reconstructions(model, x: torch.Tensor, size: int, per_row: int = 8) -> None:
    """Test images in rows, each row with the model's reconstructions of them (their decoded posterior means) below it."""
    rows = "rows 1 and 3" if len(x) > per_row else "top row"
    show_image(reconstruction_rows(model, x, per_row), size,
               f"{rows}: test images · below each: its reconstruction (decoded posterior mean)")
