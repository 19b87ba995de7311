"""The app's pages run headless (Streamlit's AppTest) as a user reaches them, and what they show read back:
shared by the page tests, as browser.py is by the tests in chromium."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from vae_core import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent


def app_test(path: str, **session):
    """An AppTest of the app as a user reaches one of its pages: entering at app.py, whose st.navigation knows
    the pages (so it runs once first), with the given session-state values set. Call run() to show the page."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in session.items():
        at.session_state[key] = value
    if path != "app_pages/home.py":
        at.run()
        at.switch_page(path)
    return at


def browser_pictures(at) -> dict[str, dict]:
    """What a page sends to its in-browser decoder components (ui.decoder), by key: AppTest cannot run them,
    but it sees their data (the decoder's URL, the point, the latents' URL...)."""
    import json

    sent = (json.loads(element.proto.json) for element in at.get("bidi_component"))
    return {data["key"]: data for data in sent if isinstance(data, dict) and "key" in data}


def served_latents(data: dict) -> np.ndarray:
    """The latents a decoded grid was sent, read back from the file ui.served wrote: [count, dim]."""
    name = data["latents"].rsplit("/", 1)[1]
    data_bytes = (ROOT / "static" / "served" / name).read_bytes()
    return np.frombuffer(data_bytes, "<f4").reshape(data["count"], data["dim"]).copy()  # writable, as torch wants


def images(at):
    return [url for element in at.get("image") for url in element.value]  # URLs are hashes of the PNG bytes


def sliders(at) -> dict:
    return browser_pictures(at)["sliders"]


def resources_encodings(path, std=False):
    """The posterior means (or deviations) of the digits test set under the model at path."""
    from vae_core import load_dataset
    from vae_core.evaluation import encode_dataset
    return encode_dataset(load_checkpoint(path).model, load_dataset("digits").test_x)[int(std)].numpy()


def linked_page(path, params: dict, **session):
    """An AppTest of a page opened from a link with these query parameters (a fresh session), and the notices
    shown on the way (AppTest enters at the home page, then switches: a browser opens the page at once)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for key, value in session.items():
        at.session_state[key] = value
    at.query_params.update(params)
    notices = []
    if path != "app_pages/home.py":
        notices += [t.value for t in at.run().toast]
        at.switch_page(path)
    notices += [t.value for t in at.run().toast]
    return at, notices


def a_drawing() -> bytes:
    """A PNG of a hand-drawn-like 1: a white bar on black, as the drawing pad sends it."""
    import io

    from PIL import Image

    pixels = np.zeros((280, 280), np.uint8)
    pixels[40:240, 125:155] = 255
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def code_shown(body: str) -> tuple[list[dict], dict[str, str]]:
    """What ui.source's HTML shows, read back: its code lines, each {"text", "number", "terms", "anchors"}, and its
    links, href -> the term's text."""
    from html.parser import HTMLParser

    class Reader(HTMLParser):
        def __init__(self):
            super().__init__()
            self.lines, self.links, self.open = [], {}, []  # open: the class of each element not yet closed

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            classes = (attrs.get("class") or "").split()
            self.open.append(classes)
            if "line" in classes:
                self.lines.append({"text": "", "number": None, "anchors": [],
                                   "terms": {c[2:] for c in classes if c.startswith("t-")}})
            elif "anchor" in classes:
                self.lines[-1]["anchors"].append(attrs["id"])
            elif tag == "a":
                self.links[attrs["href"]] = ""
                self.href = attrs["href"]

        def handle_endtag(self, tag):
            self.open.pop()

        def handle_data(self, data):
            inside = {c for classes in self.open for c in classes}
            if "no" in inside:
                self.lines[-1]["number"] = int(data)
            elif "line" in inside:
                self.lines[-1]["text"] += data
            elif "term" in inside:
                self.links[self.href] += data

    reader = Reader()
    reader.feed(body)
    return reader.lines, reader.links


def plotly_array(array) -> np.ndarray:
    """An array of a Plotly figure's spec (at.get("plotly_chart")[k].proto.spec): a list, or numpy's bytes in
    base64 with their dtype."""
    import base64

    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array, float)


def click_point(at, key: str, customdata):
    """Run the page again as if the browser's plotly chart of that key sent a selection of one point carrying
    customdata (a click on a point sends its customdata; a page's console can send anything)."""
    import json

    from streamlit.proto.WidgetStates_pb2 import WidgetState

    chart = next(c for c in at.get("plotly_chart") if c.proto.id and key in c.proto.id)
    states = at._tree.get_widget_states()
    states.widgets.append(WidgetState(id=chart.proto.id, string_value=json.dumps(
        {"selection": {"points": [{"customdata": customdata}], "point_indices": [0], "box": [], "lasso": []}})))
    return at._tree._runner._run(states, timeout=120)
