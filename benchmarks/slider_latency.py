"""Key press to picture: the Latent sliders page (decoded in the browser) against a bare Streamlit page whose
slider reruns the script for every change (benchmarks/bare_slider_app.py: Streamlit's floor for a picture the
server makes), and opening the app to the first decoded picture.

A change is one ArrowRight press on a focused slider (one 0.01 step). Its latency runs from the keydown to
the picture drawn: for the bare page the animation frame after its new image has loaded, for the sliders
page the end of drawing the decoded digit (ui/decoder/sliders.js), both on the page's own performance.now().

    python benchmarks/slider_latency.py [--changes 60] [--loads 5]

Needs /usr/bin/chromium and Playwright; check that the machine is idle first (uptime).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser import CHROMIUM, chromium_page, streamlit_server, wait_idle  # noqa: E402

KEYS = "window.__keys = []; addEventListener('keydown', e => window.__keys.push(e.timeStamp), true);"
# The bare page: wait for the image's src to change and its frame to paint; returns ms since the keydown.
BARE_STEP = """async before => {
  const img = () => document.querySelector("[data-testid='stMain'] [data-testid='stImage'] img");
  while (!img() || img().src === before) await new Promise(r => setTimeout(r, 2));
  const el = img();
  if (!(el.complete && el.naturalWidth > 0)) await new Promise(r => el.addEventListener('load', r, {once: true}));
  await new Promise(r => requestAnimationFrame(r));
  return [performance.now() - window.__keys[window.__keys.length - 1], el.src];
}"""
# The sliders page: wait until the component has drawn a frame after the key; returns ms since the keydown.
BROWSER_STEP = """async frames => {
  const s = window.vaeLab.components.sliders;
  while (s.stats.frames <= frames) await new Promise(r => setTimeout(r, 1));
  return [s.lastDrawn - window.__keys[window.__keys.length - 1], s.stats.frames];
}"""


def p95(values):
    return statistics.quantiles(values, n=100, method="inclusive")[94] if len(values) > 1 else values[0]


def bare_changes(page, n):
    page.locator("[data-testid='stSlider'] input[type='range']").first.focus()
    src, out = page.evaluate("() => document.querySelector(\"[data-testid='stMain'] [data-testid='stImage'] img\").src"), []
    for _ in range(n + 3):
        page.keyboard.press("ArrowRight")
        took, src = page.evaluate(BARE_STEP, src)
        out.append(took)
        page.wait_for_timeout(150)  # let the rerun finish before the next key
    return out[3:]


def browser_changes(page, n):
    page.locator(".latent-sliders input[type='range']").first.focus()
    frames, out = page.evaluate("() => window.vaeLab.components.sliders.stats.frames"), []
    for _ in range(n + 3):
        page.keyboard.press("ArrowRight")
        took, frames = page.evaluate(BROWSER_STEP, frames)
        out.append(took)
        page.wait_for_timeout(150)  # the release's rerun (one per key) finishes between keys, as for the bare page
    return out[3:]


def open_sliders(page, url, model=None):
    page.goto(f"{url}/Latent_sliders")
    page.wait_for_selector(".latent-sliders input[type='range']", timeout=120_000)
    wait_idle(page, timeout=120_000)
    if model:
        page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
        page.locator("[role='option']").filter(has_text=model).first.click()
        page.wait_for_function("d => { const s = window.vaeLab.components.sliders;"
                               " return s.decoder && s.decoder.header.latent_dim === d && s.stats.frames > 0; }",
                               arg=16, timeout=60_000)
        wait_idle(page, timeout=120_000)
    page.wait_for_function("() => window.vaeLab.components.sliders.stats.frames > 0", timeout=60_000)


def first_picture(browser, url, loads):
    """ms from navigation start to the first decoded digit drawn, fresh context each time (empty cache)."""
    times = []
    for _ in range(loads + 1):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            page.goto(f"{url}/Latent_sliders")
            page.wait_for_function("() => { const s = window.vaeLab && window.vaeLab.components.sliders;"
                                   " return s && s.stats.frames > 0; }", timeout=180_000, polling=10)
            times.append(page.evaluate("() => window.vaeLab.components.sliders.firstDrawn"))
        finally:
            context.close()
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=60)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--data-dir", default=os.environ.get("VAE_DATA_DIR", str(ROOT.parent / "shared/data/mnist")))
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"skipped: {CHROMIUM} missing")
    (ROOT / "test-artifacts").mkdir(exist_ok=True)
    load, rows = os.getloadavg()[0], {}
    with chromium_page() as page:
        page.add_init_script(KEYS)
        with streamlit_server(ROOT / "benchmarks" / "bare_slider_app.py") as url:
            page.goto(url)
            page.wait_for_selector("[data-testid='stMain'] [data-testid='stImage'] img", timeout=120_000)
            wait_idle(page)
            rows["bare page, picture made by the server (Streamlit's floor)"] = bare_changes(page, args.changes)
        with streamlit_server(ROOT / "app.py", env={"VAE_DATA_DIR": args.data_dir}) as url:
            first = first_picture(page.context.browser, url, args.loads)
            open_sliders(page, url)
            rows["Latent sliders, digits-2d, decoded in the browser"] = browser_changes(page, args.changes)
            open_sliders(page, url, "mnist-16d")
            rows["Latent sliders, mnist-16d, decoded in the browser"] = browser_changes(page, args.changes)
        version = page.context.browser.version

    print(f"\nMachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; chromium {version} "
          f"headless; load average {load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end (1 min)\n")
    floor = statistics.median(rows["bare page, picture made by the server (Streamlit's floor)"])
    print("| page | changes | median ms | p95 ms | median / bare floor |\n| --- | --- | --- | --- | --- |")
    for name, values in rows.items():
        print(f"| {name} | {len(values)} | {statistics.median(values):.1f} | {p95(values):.1f} | "
              f"{statistics.median(values) / floor:.2f}x |")
    cold, *rest = first
    print(f"\nOpening /Latent_sliders to the first decoded digit drawn (ms from navigation start, fresh context, "
          f"server up): first load in a fresh server {cold:.0f}, median of the next {args.loads} "
          f"{statistics.median(rest):.0f} (min {min(rest):.0f}, max {max(rest):.0f})")


if __name__ == "__main__":
    started = time.time()
    main()
    print(f"(run took {time.time() - started:.0f} s)")
