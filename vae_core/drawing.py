"""A digit drawn by hand, preprocessed the way a dataset's own images were made, so a model sees it as it saw
its training data.

MNIST (and its 28x28 siblings): the stroke's bounding box is scaled, keeping its aspect ratio, to fit a 20x20
box with grey levels from anti-aliasing, then placed in 28x28 so that its centre of mass is the centre
(LeCun et al., the MNIST database's description). scikit-learn's 8x8 digits (UCI optdigits): the digit is
scaled to fill a 32x32 bitmap, which is cut into 4x4 blocks whose counts of ink pixels (0 to 16) are the
pixels; the dataset divides them by 16.
"""
from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from .datasets import get_spec
from .errors import DataError

INK = 0.1  # a pixel darker than this (on a 0-1 scale, ink high) is background when finding the stroke
MOST_SIDE = 1024  # pixels of a drawing's width and height at most (the pad's are 280): read before decoding


def read_drawing(data: bytes) -> np.ndarray:
    """A drawing as a PNG file (from the drawing pad): grey levels in [0, 1], ink high, [H, W].

    Transparency is composited over white (as a viewer shows it); a light background (the edges' median) with dark
    ink is inverted.
    DataError for a file that is no PNG, or one over MOST_SIDE pixels a side, refused from its header before the
    pixels are decoded (a forged 8000x8000 drawing, 0.3 MB of PNG, took the server from 1.7 to 3.9 GB)."""
    try:
        image = Image.open(io.BytesIO(data), formats=["PNG"])
    except UnidentifiedImageError:  # (its message names the buffer object and its memory address)
        raise DataError("not a PNG image") from None
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"not a PNG image ({e})") from None
    width, height = image.size
    if width > MOST_SIDE or height > MOST_SIDE:
        raise DataError(f"the drawing is {width}x{height} pixels; at most {MOST_SIDE}x{MOST_SIDE} are read")
    try:
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DataError(f"not a PNG image ({e})") from None
    if image.mode in ("RGBA", "LA") or "transparency" in image.info:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255
        grey = rgba[..., :3].mean(-1) * rgba[..., 3] + (1 - rgba[..., 3])
    else:
        grey = np.asarray(image.convert("L"), dtype=np.float32) / 255
    if grey.max() - grey.min() <= INK and grey.min() > INK:  # the pad's (white ink on black) filled with ink: it
        raise DataError("the drawing is one colour all over, with no background left: clear the pad and draw a "
                        "digit")  # read as empty, "draw a digit first", which a student who had drawn did not get
    # the background is what the edges hold: "ink is the minority of the pixels" inverted a pad mostly inked over
    border = np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])
    return 1 - grey if np.median(border) > 0.5 else grey


def preprocess(drawing: np.ndarray, dataset: str) -> torch.Tensor:
    """A drawing ([H, W] in [0, 1], ink high) as the dataset's images are: one flattened row of pixels."""
    spec = get_spec(dataset)
    rows, cols = np.nonzero(np.asarray(drawing) > INK)
    if not len(rows):
        raise DataError("the drawing is empty: draw a digit first")
    box = np.asarray(drawing, dtype=np.float32)[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    _, height, width = spec.image_shape
    image = _optdigits(box) if spec.name == "digits" else _mnist(box, height, width)
    return torch.from_numpy(image.reshape(-1).astype(np.float32))


def _fit(box: np.ndarray, side: int) -> np.ndarray:
    """box scaled with anti-aliasing so that its longer side is side pixels, aspect ratio kept."""
    h, w = box.shape
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(box).resize(size, Image.Resampling.LANCZOS)).clip(0, 1)


def _mnist(box: np.ndarray, height: int, width: int) -> np.ndarray:
    digit = _fit(box, 20)
    out = np.zeros((height, width), np.float32)
    h, w = digit.shape
    ys, xs = np.mgrid[0:h, 0:w]
    mass = digit.sum()
    cy, cx = (ys * digit).sum() / mass, (xs * digit).sum() / mass  # centre of mass, in the digit's pixels
    top, left = round(height / 2 - 0.5 - cy), round(width / 2 - 0.5 - cx)
    top, left = min(max(top, 0), height - h), min(max(left, 0), width - w)  # keep the whole digit inside
    out[top:top + h, left:left + w] = digit
    return out


def _optdigits(box: np.ndarray) -> np.ndarray:
    digit = _fit(box, 32) > 0.5  # the 32x32 bitmap: ink or not
    bitmap = np.zeros((32, 32), bool)
    h, w = digit.shape
    top, left = (32 - h) // 2, (32 - w) // 2
    bitmap[top:top + h, left:left + w] = digit
    return bitmap.reshape(8, 4, 8, 4).sum((1, 3)) / 16.0  # ink pixels per 4x4 block, as the dataset divides them
