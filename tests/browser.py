"""Helpers for driving the real app in Debian's chromium: a server on a free port and a Playwright page."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import mnist_folder
from ray_cluster import ray_processes, stop_session
from waiting import holds_within

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# Every browser test module's pytestmark: the "browser" marker, and a skip with the reason where chromium is absent
MARKS = [pytest.mark.browser,
         pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} missing: apt-get install -y chromium")]
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(script: Path, env: dict | None = None, timeout: float = 90, own_ray: bool = True):
    """Run `streamlit run script` on a free port; yield its base URL; kill it at the end. With own_ray False the
    server may not start a Ray of its own (a test's server has the address of the test's Ray, or runs no job)."""
    port = free_port()
    command = [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true",
               "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    log = open(ROOT / "test-artifacts" / f"server-{port}.log", "w") if (ROOT / "test-artifacts").is_dir() else None
    data = {"VAE_DATA_DIR": str(mnist_folder())}  # where the tests look for MNIST, also when pytest runs without ./run
    process = subprocess.Popen(command, cwd=ROOT, env={**data, **os.environ, **(env or {})}, start_new_session=True,
                               stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        answered = holds_within(lambda: process.poll() is not None or healthy(), timeout, interval=0.3)
        if not answered or process.poll() is not None:
            raise RuntimeError(f"streamlit did not start (exit code {process.poll()})")
        yield url
    finally:
        local_ray = [] if own_ray else ray_processes(process.pid)
        stop_session(process)  # the server and anything it started (a local Ray, say)
        if log:
            log.close()
        assert not local_ray, (f"the server started a Ray of its own ({', '.join(local_ray)}): a test whose page "
                               "runs a job asks for the ray_address fixture and gives its server the address")


@contextlib.contextmanager
def chromium_page(width=1400, height=1000):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


@contextlib.contextmanager
def running_app(runs_dir: Path, ray: str | None = None):
    """The app on a free port, saving runs into runs_dir and running jobs on the Ray at address ray (none: the
    app may run no job), and a chromium page: yields (url, page)."""
    env = {"VAE_RUNS_DIR": str(runs_dir), "VAE_RAY_ADDRESS": ray or ""}
    with streamlit_server(ROOT / "app.py", env=env, own_ray=False) as url, page_on(url) as opened:
        yield opened


@contextlib.contextmanager
def page_on(url: str):
    """A chromium page of its own (a fresh browser, so a session of its own) on the app at url: yields (url, page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with chromium_page() as page:
        yield url, page


# Every message from the server reaches the page's scripts `delay` ms late, in order, as on a slow link (DevTools'
# network throttling leaves WebSockets alone): the app's own WebSocket, wrapped before the page's scripts run.
SLOW_DOWNLINK = """delay => {
  const Native = window.WebSocket;
  const late = (socket, handler) => event => setTimeout(() => typeof handler === "function"
    ? handler.call(socket, event) : handler.handleEvent(event), delay);
  window.WebSocket = class extends Native {
    addEventListener(type, handler, options) {
      super.addEventListener(type, type === "message" && handler ? late(this, handler) : handler, options);
    }
    set onmessage(handler) { super.onmessage = handler && late(this, handler); }
    get onmessage() { return super.onmessage; }
  };
}"""


@contextlib.contextmanager
def slow_page(browser_page, delay_ms: int, width=1400, height=1000):
    """A new page in browser_page's browser whose server messages arrive delay_ms late (SLOW_DOWNLINK)."""
    page = browser_page.context.browser.new_page(viewport={"width": width, "height": height})
    try:
        page.add_init_script(f"({SLOW_DOWNLINK})({int(delay_ms)})")
        yield page
    finally:
        page.context.close()


def open_page(page, url: str, path: str, model: str | None = None):
    """Go to the app's page at path (its URL path, "" for home), wait for its script to finish; with model, pick
    that shipped model in the sidebar first. Returns the page."""
    import re

    page.goto(f"{url}/{path}")
    page.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
    wait_idle(page)
    if model:
        page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
        page.get_by_role("option", name=re.compile(f"^{re.escape(model)}$")).click()
        wait_idle(page)
    return page


def choose(page, label: str, option: str, tries: int = 3) -> None:
    """Pick option in the Streamlit selectbox called label; its list is opened again where a click came while
    the page was redrawn and left it closed (a fresh clone's run waited 30 s for the option)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # (this module imports without playwright)

    box, item = page.get_by_role("combobox", name=label), page.get_by_role("option", name=option)
    for attempt in range(tries):
        wait_idle(page)
        box.click()
        try:
            item.wait_for(timeout=5_000)
            break
        except PlaywrightTimeout:
            if attempt == tries - 1:
                raise
    item.click()


def wait_idle(page, timeout=60_000) -> None:
    """Wait until the script has finished its run: the app is shown and the running indicator is gone."""
    page.wait_for_selector("[data-testid='stApp']", timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector(\"[data-testid='stStatusWidget']\")"
        " && document.querySelectorAll(\"[data-testid='stMain'] [data-testid='stElementContainer']\").length > 0",
        timeout=timeout)


# Values a page's console can send as a component's state (JavaScript expressions), none of which our components send
FORGED = ["null", "'abc'", "7", "true", "[0.5, 0.5]", "{z: null, n: 1}", "{z: ['a', 'b'], n: 2}", "{z: [[0.5], 0.5], n: 3}",
          "{z: [9, 0], n: 4}", "{z: [0.5, 0.5], n: '5'}", "{z: [0.5, 0.5], n: -6}", "{z: [0.5, 0.5, 0.5], n: 7}",
          "{z: 'x'.repeat(100000), n: 8}", "(() => { let v = 0.5; for (let i = 0; i < 500; i++) v = [v]; return v; })()",
          "'data:image/png;base64,' + 'A'.repeat(2000000)", "'data:image/png;base64,not*base64'",
          "{png: 'data:image/png;base64,QQ=='}"]


def forge_values(page, key: str, name: str, who: str) -> None:
    """Send every FORGED value as the state `name` of the component `key` (through its setStateValue, as a console
    could) and check that each is refused without a traceback: one short notice naming `who`, no server path in it."""
    page.evaluate("""() => { window.toastsSeen = [];  // every notice shown from now on, kept after it fades
        new MutationObserver(records => records.forEach(r => r.addedNodes.forEach(node => {
            if (node.querySelectorAll) window.toastsSeen.push(...node.querySelectorAll("[data-testid='stToast']"));
        }))).observe(document.body, {childList: true, subtree: true}); }""")
    for n, value in enumerate(FORGED):
        page.evaluate(f"() => window.vaeLab.components[{key!r}].component.setStateValue({name!r}, {value})")
        if value == "null":  # nothing released, nothing drawn: no notice, nothing happens
            page.wait_for_timeout(500)
        else:
            page.wait_for_function("n => window.toastsSeen.length > n", arg=n - 1, timeout=15_000)
        wait_idle(page)
        assert page.locator("[data-testid='stException']").count() == 0, value
    texts = page.evaluate("() => window.toastsSeen.map(t => t.textContent)")
    assert len(texts) == len(FORGED) - 1, texts
    for text in texts:
        assert f"Ignored what the {who} sent" in text and len(text) < 200 and str(ROOT) not in text, text


# Texts drawn on the page's canvases, recorded (page.add_init_script) so that CANVAS_TEXTS_OVERLAPPING can find two
# on one row that overlap: at 800 px the curves' "step, log scale (the run has 3,600)" was written over their
# legend's "recon" and "KL". A canvas's picture starts at a clearRect from its corner; Streamlit's tables (canvases
# of their own) are left out.
CANVAS_TEXTS_RECORDED = """(() => {
  if (window.vaeLabCanvasTexts) return;  // (registered by several tests of one page: wrapped once)
  const drawn = new Map();  // canvas -> the texts of its latest picture
  window.vaeLabCanvasTexts = drawn;
  const proto = CanvasRenderingContext2D.prototype, fill = proto.fillText, clear = proto.clearRect;
  proto.clearRect = function (x, y, ...rest) {
    if (x <= 0 && y <= 0) drawn.set(this.canvas, []);
    return clear.call(this, x, y, ...rest);
  };
  proto.fillText = function (text, x, y, ...rest) {
    if (!drawn.has(this.canvas)) drawn.set(this.canvas, []);
    drawn.get(this.canvas).push({text: String(text), x, y, align: this.textAlign, width: this.measureText(text).width});
    return fill.call(this, text, x, y, ...rest);
  };
})();"""
CANVAS_TEXTS_OVERLAPPING = """() => {
  const out = [];
  for (const [canvas, texts] of window.vaeLabCanvasTexts) {
    if (!canvas.isConnected || canvas.closest("[data-testid=stDataFrame]")) continue;
    const boxes = texts.map(t => {
      const lo = t.align === "right" || t.align === "end" ? t.x - t.width : t.align === "center" ? t.x - t.width / 2 : t.x;
      return [lo, lo + t.width, t.y, t.text];
    });
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
      const [a0, a1, ay, at] = boxes[i], [b0, b1, by, bt] = boxes[j];
      if (Math.abs(ay - by) < 10 && Math.min(a1, b1) - Math.max(a0, b0) > 1) out.push(`${at} over ${bt}`);
    }
  }
  return out;
}"""
