"""A drawn digit is preprocessed as the dataset's images were made: MNIST's 20x20 box centred by its centre of
mass in 28x28, and the 8x8 digits' 4x4 block counts over a 32x32 bitmap."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from vae_core import DataError
from vae_core.drawing import preprocess, read_drawing


def canvas(size=280):
    return np.zeros((size, size), np.float32)


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    ys, xs = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    return (ys * image).sum() / image.sum(), (xs * image).sum() / image.sum()


def test_a_centred_square_stays_centred_and_fills_the_20x20_box():
    drawing = canvas()
    drawing[90:190, 90:190] = 1.0
    image = preprocess(drawing, "mnist").reshape(28, 28).numpy()
    assert image.shape == (28, 28) and 0 <= image.min() and image.max() <= 1
    cy, cx = centre_of_mass(image)
    assert abs(cy - 13.5) <= 0.5 and abs(cx - 13.5) <= 0.5
    rows, cols = np.nonzero(image > 0.5)
    assert rows.max() - rows.min() + 1 == 20 and cols.max() - cols.min() + 1 == 20


def test_a_stroke_drawn_off_centre_is_centred_by_its_centre_of_mass():
    drawing = canvas()
    drawing[10:130, 200:215] = 1.0  # a tall thin stroke in the top-right corner
    image = preprocess(drawing, "mnist").reshape(28, 28).numpy()
    cy, cx = centre_of_mass(image)
    assert abs(cy - 13.5) <= 0.5 and abs(cx - 13.5) <= 0.5
    rows, cols = np.nonzero(image > 0.5)
    assert rows.max() - rows.min() + 1 == 20 and cols.max() - cols.min() + 1 < 5  # the aspect ratio is kept


def test_for_the_8x8_digits_ink_is_counted_in_4x4_blocks_of_a_32x32_bitmap():
    drawing = canvas(320)
    drawing[0:320, 40:80] = 1.0  # a vertical bar 8 times taller than wide, off to the left
    image = preprocess(drawing, "digits").reshape(8, 8).numpy()
    # In the 32x32 bitmap it is 32 tall and 4 wide, centred (columns 14-17): 2 columns in each of blocks 3 and 4,
    # so every block of those two columns holds 8 of 16 ink pixels, as the dataset counts them.
    expected = np.zeros((8, 8))
    expected[:, 3:5] = 8 / 16
    np.testing.assert_array_equal(image, expected)


def test_a_drawing_arrives_as_a_png_with_dark_or_transparent_background():
    drawing = canvas(100)
    drawing[20:80, 45:55] = 1.0
    for mode, pixels in (("L", (drawing * 255).astype(np.uint8)), ("L", ((1 - drawing) * 255).astype(np.uint8))):
        buffer = io.BytesIO()
        Image.fromarray(pixels, mode).save(buffer, format="PNG")
        np.testing.assert_allclose(read_drawing(buffer.getvalue()), drawing, atol=1 / 255)
    rgba = np.zeros((100, 100, 4), np.uint8)
    rgba[..., 3] = (drawing * 255).astype(np.uint8)  # black ink on a transparent canvas
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    np.testing.assert_allclose(read_drawing(buffer.getvalue()), drawing, atol=1 / 255)


def test_a_drawing_mostly_inked_keeps_its_ink():
    """A pad inked over most of its area came out inverted, a black digit on white, with no word: the background
    was taken to be the majority of the pixels. It is now the edges'."""
    drawing = canvas(100)
    drawing[10:90, 10:90] = 1.0  # 64% ink, the edges black as the pad opens
    for pixels in ((drawing * 255).astype(np.uint8), ((1 - drawing) * 255).astype(np.uint8)):  # and on paper
        buffer = io.BytesIO()
        Image.fromarray(pixels, "L").save(buffer, format="PNG")
        np.testing.assert_allclose(read_drawing(buffer.getvalue()), drawing, atol=1 / 255)


def test_an_empty_drawing_or_a_file_that_is_no_image_is_refused():
    with pytest.raises(DataError, match="draw a digit first"):
        preprocess(canvas(), "mnist")
    for data in (b"%PDF-1.4 not a picture", b"\xff\xd8\xff\xe0 a JPEG's start", b""):
        with pytest.raises(DataError, match="^not a PNG image$"):  # (it named the buffer's memory address)
            read_drawing(data)
    assert isinstance(preprocess(canvas() + (np.arange(280) == 140)[None, :], "kmnist"), torch.Tensor)


def test_a_pad_filled_with_ink_is_told_so_not_called_empty():
    """The pad draws white ink on black: one painted over entirely was refused as "empty: draw a digit first"."""
    for grey in (255, 200):
        buffer = io.BytesIO()
        Image.fromarray(np.full((280, 280), grey, np.uint8), "L").save(buffer, format="PNG")
        with pytest.raises(DataError, match="one colour all over, with no background left"):
            read_drawing(buffer.getvalue())
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((280, 280), np.uint8), "L").save(buffer, format="PNG")  # the pad as it opens
    with pytest.raises(DataError, match="draw a digit first"):
        preprocess(read_drawing(buffer.getvalue()), "mnist")
