"""Decoded frames per second while dragging: the latent pad (decoding in the browser) against a slider whose
picture the server draws (one Streamlit rerun per change), in one run of headless chromium.

Browser path: on the Latent pad page with the chosen model, page.mouse holds the handle down and circles
it (radius 2.5, one turn per two seconds) for --seconds, sending moves as fast as Playwright delivers
them. The pad's own counters give the frames decoded and drawn, the time each decode and draw took,
and the latency from a pointer event (its timeStamp) to the end of the drawing in the animation frame
that shows it (the compositor then puts it on screen), and to the start of the next animation frame
(by then it is on screen: an upper bound). The display's own frame rate over the same window, counted
with requestAnimationFrame, is the ceiling.

Server path: benchmarks/bare_slider_app.py (one st.slider, one image the script makes: Streamlit's floor for
a picture drawn by Python; the app's own sliders page decodes in the browser since the classroom issue) is
focused and stepped with ArrowRight (0.01), each change waiting until the image has a new src, has loaded and
a frame has begun; changes per second over --seconds, and the latency of each change from the key press.

    python benchmarks/latent_pad_fps.py [--model mnist-2d] [--seconds 5] [--data-dir ../shared/data/mnist]

Needs /usr/bin/chromium and Playwright (no browser download). Prints the machine and a Markdown table.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser import CHROMIUM, chromium_page, streamlit_server, wait_idle  # noqa: E402
from vae_core import load_checkpoint  # noqa: E402

# Counts animation frames from now until stopped: the display rate the pad can at most reach.
FRAME_COUNTER = """() => {
  const counter = window.__frames = {count: 0, running: true};
  const tick = () => { if (!counter.running) return; counter.count += 1; requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}"""


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def choose_model(page, name: str) -> None:
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
    page.get_by_role("option", name=re.compile(f"^{re.escape(name)} ")).click()


def pad_drag(page, seconds: float) -> dict:
    """Circle the pad's handle for `seconds` with the button held; the pad's counters and the display's."""
    box = page.locator("canvas.pad").bounding_box()
    at = lambda x, y: (box["x"] + box["width"] * (x + 4) / 8, box["y"] + box["height"] * (4 - y) / 8)  # noqa: E731
    page.mouse.move(*at(2.5, 0))
    page.mouse.down()
    page.evaluate("() => window.vaeLab.components.pad.resetStats()")
    page.evaluate(FRAME_COUNTER)
    begin_ms = page.evaluate("() => performance.now()")
    start, moves = time.perf_counter(), 0
    while (elapsed := time.perf_counter() - start) < seconds:
        angle = math.pi * elapsed  # one turn per two seconds
        page.mouse.move(*at(2.5 * math.cos(angle), 2.5 * math.sin(angle)))
        moves += 1
    end_ms = page.evaluate("() => { window.__frames.running = false; return performance.now(); }")
    stats = page.evaluate("() => window.vaeLab.components.pad.stats")
    display_frames = page.evaluate("() => window.__frames.count")
    page.mouse.up()
    window = (end_ms - begin_ms) / 1000
    return {"fps": stats["frames"] / window, "display_fps": display_frames / window, "moves": moves / window,
            "decode": stats["decodeMs"], "drawn": stats["toDrawn"], "next_frame": stats["toNextFrame"]}


def server_steps(page, url: str, seconds: float) -> dict:
    """The server path: benchmarks/bare_slider_app.py's slider stepped for `seconds`, each change waiting for the
    image the server made for it (a rerun per change, as a slider whose picture Python draws needs)."""
    from slider_latency import BARE_STEP, KEYS

    page.add_init_script(KEYS)
    page.goto(url)
    image = "[data-testid='stMain'] [data-testid='stImage'] img"
    page.wait_for_selector(image, timeout=120_000)
    wait_idle(page)
    page.locator("[data-testid='stSlider'] input[type='range']").first.focus()
    latencies, src = [], page.evaluate(f"() => document.querySelector(\"{image}\").src")
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        page.keyboard.press("ArrowRight")
        took, src = page.evaluate(BARE_STEP, src)
        latencies.append(took)
    elapsed = time.perf_counter() - start
    return {"fps": len(latencies) / elapsed, "latency": latencies}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mnist-2d", help="a shipped model's name (models/NAME)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the drag and of the slider run")
    parser.add_argument("--data-dir", default=os.environ.get("VAE_DATA_DIR", str(ROOT.parent / "shared/data/mnist")),
                        help="MNIST for the pad's background scatter (the pad works without it)")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        sys.exit(f"skipped: {CHROMIUM} missing (apt-get install -y chromium)")
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    config = load_checkpoint(ROOT / "models" / args.model).config

    env = {"VAE_DATA_DIR": args.data_dir} if Path(args.data_dir).is_dir() else {}
    with streamlit_server(ROOT / "app.py", env=env) as url, chromium_page() as page:
        page.goto(f"{url}/Latent_pad")
        page.wait_for_selector("[data-testid='stMain'] h1", timeout=60_000)
        wait_idle(page)
        choose_model(page, args.model)
        page.wait_for_function("shape => { const p = window.vaeLab && window.vaeLab.components.pad;"
                               " return p && p.decoder && String(p.decoder.header.image_shape) === shape; }",
                               arg=",".join(map(str, config.image_shape)), timeout=60_000)
        wait_idle(page)
        pad_drag(page, 1.0)  # warm-up: JIT, canvases
        pad = pad_drag(page, args.seconds)
        weights = page.evaluate("() => window.vaeLab.components.pad.decoder.bytes")
        page.screenshot(path=str(ROOT / "test-artifacts" / "latent_pad_fps.png"), full_page=True)
        browser_version = page.context.browser.version
    with streamlit_server(ROOT / "benchmarks" / "bare_slider_app.py") as url, chromium_page() as page:
        server_steps(page, url, 1.0)  # warm-up
        server = server_steps(page, url, args.seconds)

    import streamlit
    print(f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"chromium {browser_version} headless (software rendering); streamlit {streamlit.__version__}; "
          f"model {args.model} (decoder {weights / 1e6:.2f} MB float32, fetched once); "
          f"background scatter {'on' if env else 'off (no MNIST)'}\n")
    print(f"| path ({args.seconds:g} s) | decoded frames/s | latency median ms | latency p95 ms | notes |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| latent pad, in the browser (to drawn) | {pad['fps']:.1f} | {statistics.median(pad['drawn']):.1f} | "
          f"{percentile(pad['drawn'], 0.95):.1f} | display {pad['display_fps']:.1f} frames/s, "
          f"{pad['moves']:.0f} pointer moves/s, decode+draw median {statistics.median(pad['decode']):.2f} ms |")
    print(f"| latent pad, in the browser (to next frame) | | {statistics.median(pad['next_frame']):.1f} | "
          f"{percentile(pad['next_frame'], 0.95):.1f} | upper bound: the drawn frame is on screen by then |")
    print(f"| a slider whose picture the server draws (bare_slider_app.py, a rerun per change) | {server['fps']:.1f} | "
          f"{statistics.median(server['latency']):.1f} | {percentile(server['latency'], 0.95):.1f} | "
          f"{len(server['latency'])} changes, each waiting for its image |")
    print(f"\nSpeed-up in frames per second: {pad['fps'] / server['fps']:.1f}x")


if __name__ == "__main__":
    main()
