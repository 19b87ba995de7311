"""Values a browser sends from the app's components (the sliders' and the latent pad's release, the drawing pad's
PNG) are parsed with their type and range: whatever JSON a page's console could send is refused with a ValueError
saying why in a few words, never another exception; and a drawing is bounded before it is decoded."""
import base64
import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from browser import ROOT
from ui.decoder import parse_release
from ui.drawing import MOST_URL, PREFIX, parse_drawing
from ui.links import EXCERPT, excerpt
from vae_core import DataError
from vae_core.drawing import MOST_SIDE, read_drawing

NESTED = [[[[[[[[[["deep"]]]]]]]]]]
FORGED_RELEASES = [None, "abc", 1, True, [0.5, 0.5], {"z": [0.5, 0.5]}, {"n": 1}, {"z": None, "n": 1},
                   {"z": "0.5,0.5", "n": 1}, {"z": [0.5], "n": 1}, {"z": [0.5, 0.5, 0.5], "n": 1},
                   {"z": [[0.5], 0.5], "n": 1}, {"z": [None, 0.5], "n": 1}, {"z": ["0.5", 0.5], "n": 1},
                   {"z": [True, 0.5], "n": 1}, {"z": [4.01, 0], "n": 1}, {"z": [-1e308, 0], "n": 1},
                   {"z": [float("nan"), 0], "n": 1}, {"z": [float("inf"), 0], "n": 1}, {"z": [0, 0], "n": 0},
                   {"z": [0, 0], "n": -3}, {"z": [0, 0], "n": 1.5}, {"z": [0, 0], "n": "2"}, {"z": [0, 0], "n": None},
                   {"z": [0, 0], "n": 2 ** 64}, {"z": [0, 0], "n": 1, "x": 1}, {"z": NESTED, "n": 1}, NESTED,
                   {"z": [0, 0] * 100_000, "n": 1}, {"z": [10 ** 4000, 0], "n": 1}]  # (json.loads reads a 4,000-digit
# number as an int: math.isfinite raised OverflowError on it)


def png(width, height) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_release_is_a_point_within_the_controls_range_and_a_whole_number():
    assert parse_release({"z": [0.37, -4], "n": 12}, 2) == ([0.37, -4.0], 12)
    assert parse_release({"z": [4.0, 0.0, 1], "n": 2 ** 53 - 1}, 3) == ([4.0, 0.0, 1.0], 2 ** 53 - 1)


@pytest.mark.parametrize("value", FORGED_RELEASES, ids=range(len(FORGED_RELEASES)))
def test_a_forged_release_is_refused_with_a_short_reason(value):
    with pytest.raises(ValueError) as refused:
        parse_release(value, 2)
    assert len(str(refused.value)) < 60


@pytest.mark.parametrize("value", [123, ["data:image/png;base64,"], {"png": "x"}, "abc", "data:text/plain;base64,QQ==",
                                   PREFIX + "not base64!", PREFIX + "QQ=", PREFIX + "A" * MOST_URL, NESTED])
def test_a_forged_drawing_is_refused_with_a_short_reason(value):
    with pytest.raises(ValueError) as refused:
        parse_drawing(value)
    assert len(str(refused.value)) < 60


def test_a_drawing_is_its_png_bytes_and_none_is_an_empty_pad():
    data = png(280, 280)
    assert parse_drawing(PREFIX + base64.b64encode(data).decode()) == data
    assert parse_drawing(None) is None


@pytest.mark.parametrize("value", FORGED_RELEASES + [PREFIX + "A" * 100_000, "a\x00\n" * 50, 10 ** 400])
def test_a_notice_repeats_at_most_a_short_excerpt_of_any_value(value):
    shown = excerpt(value)  # EXCERPT characters of the value, each escaped as \xNN at worst, quotes and an ellipsis
    assert len(shown) <= 4 * EXCERPT + 3 and "\n" not in shown and "\x00" not in shown


@pytest.mark.parametrize("size", [(MOST_SIDE + 1, 10), (10, MOST_SIDE + 1), (8000, 8000)])
def test_a_drawing_too_large_is_refused_from_its_header(size):
    with pytest.raises(DataError, match=f"{size[0]}x{size[1]} pixels"):
        read_drawing(png(*size))
    assert read_drawing(png(MOST_SIDE, 28)).shape == (28, MOST_SIDE)


def test_a_forged_8000x8000_drawing_is_refused_before_it_is_decoded(tmp_path):
    """Peak memory (Linux's VmHWM, reset first), measured in a fresh process: reading the forged drawing adds next to nothing (it took the server
    from 1.7 to 3.9 GB), where decoding its pixels as the reader did costs over a gigabyte."""
    measure = ("import sys\n"
               "import numpy as np\n"
               "from PIL import Image\n"
               "from vae_core.drawing import read_drawing\n"
               "def peak_kb():\n"
               "    return int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0])\n"
               "data = open(sys.argv[1], 'rb').read()\n"
               "open('/proc/self/clear_refs', 'w').write('5')  # the peak is now what is resident\n"
               "before = peak_kb()\n"
               "try:\n"
               "    if sys.argv[2] == 'read':\n"
               "        read_drawing(data)\n"
               "    else:  # what reading it cost: the pixels decoded, as floats\n"
               "        np.asarray(Image.open(sys.argv[1]).convert('L'), dtype=np.float32)\n"
               "except Exception as e:\n"
               "    print(type(e).__name__)\n"
               "print(peak_kb() - before)\n")
    path = tmp_path / "drawing.png"
    path.write_bytes(png(8000, 8000))
    assert path.stat().st_size < 400_000  # small on the wire

    def grown_mb(how: str) -> tuple[str, float]:
        out = subprocess.run([sys.executable, "-c", measure, str(path), how], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
        return " ".join(out[:-1]), int(out[-1]) / 1024

    error, grown = grown_mb("read")
    assert error == "DataError" and grown < 20, (error, grown)
    error, grown = grown_mb("decode")
    assert error == "" and grown > 250, (error, grown)  # 64 M pixels: 64 MB of bytes, 256 MB of floats
