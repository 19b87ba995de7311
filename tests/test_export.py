"""The packed decoder: its reference reader decodes as torch does, for MLP and conv decoders; bad input is refused."""
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from vae_core import VAE, Config, load_checkpoint
from vae_core.evaluation import decode_images
from vae_core.export import MAGIC, decode_packed, decoder_layers, pack_decoder, unpack_decoder

ROOT = Path(__file__).resolve().parent.parent


def latents(n, dim, seed=0):
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed)) * 2


@pytest.mark.parametrize("name", ["digits-2d", "mnist-2d", "mnist-16d"])
def test_shipped_models_decode_as_torch_does(name):
    model = load_checkpoint(ROOT / "models" / name).model
    z = latents(64, model.config.latent_dim)
    assert np.abs(decode_packed(pack_decoder(model), z) - decode_images(model, z).numpy()).max() < 1e-5


@pytest.mark.parametrize("dataset, hidden", [("digits", (32,)), ("mnist", (64, 32))])
def test_conv_decoders_decode_as_torch_does(dataset, hidden):
    model = VAE(Config(dataset=dataset, arch="conv", hidden=hidden, latent_dim=3, seed=1))
    z = latents(16, 3)
    assert np.abs(decode_packed(pack_decoder(model), z) - decode_images(model, z).numpy()).max() < 1e-5


def test_the_blob_is_the_weights_in_float32_behind_a_small_header():
    model = load_checkpoint(ROOT / "models" / "mnist-2d").model
    blob = pack_decoder(model)
    header, data = unpack_decoder(blob)
    weights = sum(p.numel() for p in model.decoder.parameters())
    assert blob.startswith(MAGIC)
    assert data.dtype == np.float32 and data.size == weights
    assert len(blob) - 4 * weights < 1000  # the header is small; no JSON numbers for the weights
    assert (len(MAGIC) + 4 + struct.unpack_from("<I", blob, len(MAGIC))[0]) % 4 == 0  # floats start aligned
    assert header["latent_dim"] == 2 and header["image_shape"] == [1, 28, 28]
    hidden = [("linear", True)] * len(model.config.hidden)  # 512-512: two hidden layers, then the pixels' logits
    assert [(layer["op"], layer["relu"]) for layer in header["layers"]] == hidden + [("linear", False)]
    first = header["layers"][0]
    offset, count = first["weight"]
    assert np.array_equal(data[offset:offset + count], model.decoder[0].weight.detach().numpy().ravel())


def test_decoder_layers_lists_the_conv_shapes():
    model = VAE(Config(dataset="mnist", arch="conv", hidden=(64,), latent_dim=2))
    layers, arrays = decoder_layers(model)
    convs = [layer for layer in layers if layer["op"] == "conv_transpose"]
    assert [(c["in_shape"], c["out_shape"], c["relu"]) for c in convs] == [
        ([64, 7, 7], [32, 14, 14], True), ([32, 14, 14], [1, 28, 28], False)]
    assert sum(a.size for a in arrays) == sum(p.numel() for p in model.decoder.parameters())


def test_unknown_layers_and_foreign_blobs_are_refused():
    model = VAE(Config(dataset="digits", hidden=(16,), latent_dim=2))
    model.decoder = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 64))
    with pytest.raises(ValueError, match="cannot export decoder layer Tanh"):
        pack_decoder(model)
    with pytest.raises(ValueError, match="not a packed decoder"):
        unpack_decoder(b"PK\x03\x04" + json.dumps({}).encode())


def test_decoded_frames_download_as_a_looping_gif():
    import io

    from PIL import Image

    from vae_core.export import gif_bytes

    frames = torch.rand(6, 8, 8, generator=torch.Generator().manual_seed(0))
    gif = Image.open(io.BytesIO(gif_bytes(frames)))
    assert gif.format == "GIF" and gif.info["loop"] == 0
    assert gif.n_frames == 6 + 4  # forward, then back without repeating the ends
    assert Image.open(io.BytesIO(gif_bytes(frames, bounce=False))).n_frames == 6


@pytest.mark.parametrize("side, block", [(8, 64), (28, 19)])
def test_a_gif_is_at_least_512_px_wide_and_each_source_pixel_an_exact_block(side, block):
    """Big enough for a slide (the 8x8 digits' GIF was 64 px wide), and enlarged with hard edges: every frame
    read back is its source image with each pixel repeated into a block x block square, grey level for grey level."""
    import io

    from PIL import Image, ImageSequence

    from vae_core.export import gif_bytes

    frames = torch.rand(4, side, side, generator=torch.Generator().manual_seed(1))
    gif = Image.open(io.BytesIO(gif_bytes(frames)))
    assert gif.size == (side * block, side * block) and gif.size[0] >= 512
    walk = [0, 1, 2, 3, 2, 1]
    for frame, source in zip(ImageSequence.Iterator(gif), walk, strict=True):
        grey = (frames[source].numpy() * 255).round().astype(np.uint8)
        expected = np.repeat(np.repeat(grey, block, 0), block, 1)
        assert np.array_equal(np.asarray(frame.convert("L")), expected)


@pytest.mark.parametrize("side, block", [(8, 64), (28, 19)])
def test_each_labelled_frame_has_its_text_above_the_same_picture_in_a_row_of_one_height(side, block):
    """On a slide nobody could tell which z a traversal's frame showed: each frame's label is written above it, large
    enough to read at the GIF's size, in a white row as high in every frame, so the picture (pixel for pixel the
    unlabelled one) stays put while the label changes."""
    import io

    from PIL import Image, ImageSequence

    from vae_core.export import gif_bytes

    frames = torch.rand(4, side, side, generator=torch.Generator().manual_seed(2))
    labels = ["z3 = -3", "z3 = -1.5", "z3 = 0", "z3 = 1.5"]
    gif = Image.open(io.BytesIO(gif_bytes(frames, labels=labels)))
    row = gif.height - side * block  # the label's row, above the square picture
    assert gif.width == side * block and row >= 32
    rows = []
    for frame, source in zip(ImageSequence.Iterator(gif), [0, 1, 2, 3, 2, 1], strict=True):
        grey = np.asarray(frame.convert("L"))
        picture = (frames[source].numpy() * 255).round().astype(np.uint8)
        assert np.array_equal(grey[row:], np.repeat(np.repeat(picture, block, 0), block, 1))
        ink_rows, ink_columns = np.nonzero(grey[:row] < 128)
        assert ink_rows.max() - ink_rows.min() >= 20  # letters about 30 px high on a 512 px picture
        assert 0 < ink_rows.min() and ink_rows.max() < row - 1 and 0 < ink_columns.min()
        assert ink_columns.max() < gif.width - 1  # whole, not cut at an edge
        rows.append(grey[:row])
    assert np.array_equal(rows[1], rows[5]) and not np.array_equal(rows[0], rows[1])  # each value its own label


def test_a_label_longer_than_the_picture_is_wide_shrinks_to_fit_it():
    import io

    from PIL import Image

    from vae_core.export import gif_bytes

    text = "a label far longer than an 8 px digit's 512 px picture is wide"
    gif = Image.open(io.BytesIO(gif_bytes(torch.zeros(2, 8, 8), labels=[text, "short"], bounce=False)))
    grey = np.asarray(gif.convert("L"))[:gif.height - 512]
    ink_columns = np.nonzero((grey < 128).any(0))[0]
    assert 0 < ink_columns.min() and ink_columns.max() < gif.width - 1
