"""Getting things out: a decoder's weights as one compact binary blob (JSON header + float32 arrays) with its
reference reader in NumPy, and decoded pictures as animated GIFs (the browser saves still ones as PNG).

The blob lets something other than PyTorch decode latents (the app's in-browser latent pad does, in
ui/decoder/decoder.js). Layout, all little-endian:

    b"VAEDEC1\\0"  |  uint32 header length  |  header, UTF-8 JSON padded with spaces to 4 bytes  |  float32 data

The header lists the decoder's layers in order. Each has "op" ("linear" or "conv_transpose"), "relu"
(a ReLU follows), and "weight" / "bias" as [offset, count] in float32 elements of the data. A linear
weight is torch's [out, in] row-major; a transposed convolution's weight is torch's [in_c, out_c, k, k],
its input and output shapes are (channels, height, width). The last layer's output are the pixel
logits: sigmoid gives the Bernoulli means, laid out as (channels, height, width).
"""
from __future__ import annotations

import io
import json
import struct

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from torch import nn

MAGIC = b"VAEDEC1\0"
FORMAT = "<I"  # the header length


def decoder_layers(model) -> tuple[list[dict], list[np.ndarray]]:
    """The decoder of a vae_core VAE as (layer descriptions, their float32 arrays in order).

    Raises ValueError for a layer this format cannot describe.
    """
    layers, arrays, offset = [], [], 0
    shape = (model.config.latent_dim,)  # the shape of the activation flowing into the next layer

    def add(array) -> list[int]:
        nonlocal offset
        array = array.detach().cpu().float().numpy().ravel()
        arrays.append(array)
        offset += array.size
        return [offset - array.size, array.size]

    for module in model.decoder:
        if isinstance(module, nn.Linear):
            layers.append({"op": "linear", "in": module.in_features, "out": module.out_features, "relu": False,
                           "weight": add(module.weight), "bias": add(module.bias)})
            shape = (module.out_features,)
        elif isinstance(module, nn.ConvTranspose2d) and _plain(module):
            c, h, w = shape
            k, s, p = module.kernel_size[0], module.stride[0], module.padding[0]
            out = (module.out_channels, (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k)
            layers.append({"op": "conv_transpose", "in_shape": [c, h, w], "out_shape": list(out), "kernel": k,
                           "stride": s, "padding": p, "relu": False,
                           "weight": add(module.weight), "bias": add(module.bias)})
            shape = out
        elif isinstance(module, nn.ReLU) and layers:
            layers[-1]["relu"] = True
        elif isinstance(module, nn.Unflatten):
            shape = tuple(module.unflattened_size)  # a view: the flat layout is already (C, H, W)
        elif isinstance(module, nn.Flatten):
            shape = (int(np.prod(shape)),)
        else:
            raise ValueError(f"cannot export decoder layer {module!r}: only Linear, ReLU, square "
                             "ConvTranspose2d (no dilation, groups or output padding), Unflatten and Flatten")
    return layers, arrays


def _plain(conv: nn.ConvTranspose2d) -> bool:
    square = len(set(conv.kernel_size)) == len(set(conv.stride)) == len(set(conv.padding)) == 1
    return square and conv.dilation == (1, 1) and conv.groups == 1 and conv.output_padding == (0, 0)


def pack_decoder(model) -> bytes:
    """The decoder's weights and layer list as one blob (see the module docstring)."""
    layers, arrays = decoder_layers(model)
    config = model.config
    header = json.dumps({"latent_dim": config.latent_dim, "image_shape": list(config.image_shape),
                         "dtype": "float32", "layers": layers}, separators=(",", ":")).encode()
    header += b" " * (-(len(MAGIC) + 4 + len(header)) % 4)  # the float32 data starts 4-byte aligned
    data = np.concatenate(arrays).astype("<f4")
    return MAGIC + struct.pack(FORMAT, len(header)) + header + data.tobytes()


def unpack_decoder(blob: bytes) -> tuple[dict, np.ndarray]:
    """(header, float32 data) of a blob from pack_decoder; ValueError if it is not one."""
    if blob[:len(MAGIC)] != MAGIC:
        raise ValueError("not a packed decoder: wrong magic bytes")
    (length,) = struct.unpack_from(FORMAT, blob, len(MAGIC))
    start = len(MAGIC) + 4
    header = json.loads(blob[start:start + length])
    return header, np.frombuffer(blob, "<f4", offset=start + length)


def decode_packed(blob: bytes, z) -> np.ndarray:
    """Bernoulli means of latents z [B, D] from a packed decoder, shaped [B, H, W] (C == 1) or [B, C, H, W].

    The reference reader of the format, written as the browser decodes: float32 arrays, one layer at a time.
    """
    header, data = unpack_decoder(blob)
    x = np.asarray(z, dtype=np.float32).reshape(-1, header["latent_dim"])
    for layer in header["layers"]:
        (wo, wn), (bo, bn) = layer["weight"], layer["bias"]
        weight, bias = data[wo:wo + wn], data[bo:bo + bn]
        if layer["op"] == "linear":
            x = x @ weight.reshape(layer["out"], layer["in"]).T + bias
        else:
            x = _conv_transpose(x, weight, bias, layer)
        if layer["relu"]:
            x = np.maximum(x, 0)
    c, h, w = header["image_shape"]
    pixels = 1 / (1 + np.exp(-x.astype(np.float64)))
    return pixels.reshape(-1, h, w) if c == 1 else pixels.reshape(-1, c, h, w)


def _conv_transpose(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, layer: dict) -> np.ndarray:
    """Each input pixel scatters its kernel-weighted values into the output: out[s*i - p + k] += x[i] * w[k]."""
    (c, h, w), (oc, oh, ow) = layer["in_shape"], layer["out_shape"]
    k, s, p = layer["kernel"], layer["stride"], layer["padding"]
    x = x.reshape(-1, c, h, w)
    weight = weight.reshape(c, oc, k, k)
    full = np.zeros((len(x), oc, (h - 1) * s + k, (w - 1) * s + k), dtype=np.float32)  # before cropping p
    for ky in range(k):
        for kx in range(k):
            full[:, :, ky:ky + (h - 1) * s + 1:s, kx:kx + (w - 1) * s + 1:s] += np.einsum(
                "bchw,co->bohw", x, weight[:, :, ky, kx])
    out = full[:, :, p:p + oh, p:p + ow] + bias[None, :, None, None]
    return out.reshape(len(x), -1)


GIF_WIDTH = 512  # px at least: a GIF big enough for a slide, each source pixel a block of whole pixels
LABEL_SIZE = 1 / 16  # a frame's label is this share of the GIF's width high (32 px of 512): legible on a slide


def _uint8(image, scale: int) -> Image.Image:
    """A [H, W] image in [0, 1] as an 8-bit grey picture enlarged scale times with hard pixel edges."""
    array = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    array = np.repeat(np.repeat(array, scale, 0), scale, 1)
    return Image.fromarray((array * 255).round().astype(np.uint8), "L")


def gif_bytes(frames, frame_ms: int = 120, bounce: bool = True, width: int = GIF_WIDTH,
              labels: list[str] | None = None) -> bytes:
    """[N, H, W] images in [0, 1] as an animated GIF that loops forever, at least width pixels wide: each source
    pixel is enlarged to a square block of the smallest whole size that reaches it (hard edges, nothing blurred).
    With bounce it plays forward then back (frames 0..N-1..1), so a path between two images is walked both ways.
    labels, a text per frame (say "z3 = -1.5"), are written above their frames (_labelled)."""
    frames = [np.asarray(f) for f in frames]
    scale = -(-width // frames[0].shape[1])  # the ceiling: 8 px digits become 64 px blocks, 28 px MNIST 19 px ones
    pictures = [_uint8(f, scale) for f in frames]
    if labels is not None:
        pictures = _labelled(pictures, labels)
    order = pictures + pictures[-2:0:-1] if bounce and len(pictures) > 2 else pictures
    buffer = io.BytesIO()
    order[0].save(buffer, format="GIF", save_all=True, append_images=order[1:], duration=frame_ms, loop=0)
    return buffer.getvalue()


def _labelled(pictures: list[Image.Image], labels: list[str]) -> list[Image.Image]:
    """Each picture under its label, centred in a white row of one height for every frame (the picture stays put
    while the label changes), LABEL_SIZE of the width high, smaller where the longest label would not fit."""
    width, height = pictures[0].size
    size = round(LABEL_SIZE * width)
    longest = max(ImageFont.load_default(size=size).getlength(text) for text in labels)
    size = min(size, int(size * 0.9 * width / max(longest, 1)))
    font, row = ImageFont.load_default(size=size), round(1.6 * size)  # (its font has no U+2212: write "-")
    framed = []
    for picture, text in zip(pictures, labels, strict=True):
        frame = Image.new("L", (width, row + height), 255)
        frame.paste(picture, (0, row))
        ImageDraw.Draw(frame).text((width / 2, row / 2), text, fill=0, font=font, anchor="mm")
        framed.append(frame)
    return framed
