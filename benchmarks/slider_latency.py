"""Slider-to-picture latency of the Latent sliders page in headless chromium, against a bare Streamlit page.

A slider change is one ArrowRight key press on a focused slider (one 0.01 step). Its latency runs from
the keydown event in the page to the animation frame after the first image's new `src` has loaded,
both read from the page's own performance.now(). The floor is benchmarks/bare_slider_app.py: one
slider, one 280x280 PNG, nothing else, so it holds Streamlit's own costs (the slider's debounce, the
websocket round trip, the rerun, the media fetch). Also timed: from opening the app to the first
decoded image on screen, once the server is up (the first load in a fresh server process apart, as
it imports torch and loads the model).

Streamlit runs gc.collect() after every script run (runner.postScriptGC, on by default); with torch,
torchvision and the datasets loaded that is a full pass over ~0.5 M objects, and it holds the GIL, so
the server can neither send the rest of the rerun nor serve the new image until it ends. The last two
rows run the same page with STREAMLIT_RUNNER_POST_SCRIPT_GC=false to show that cost (--no-gc-rows skips them).

    python benchmarks/slider_latency.py [--changes 60] [--loads 5] [--pattern sweep|alternate] [--no-gc-rows]

By default the slider sweeps one way (0.00, 0.01, 0.02, ...): every change is a new image URL. With
--pattern alternate it goes right, left, right, ...: the same two URLs come back, and chromium's
memory cache may serve them without a request. Needs /usr/bin/chromium and Playwright; MNIST
from VAE_DATA_DIR (default ../shared/data/mnist).
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from browser import CHROMIUM, chromium_page, streamlit_server, wait_idle  # noqa: E402

SLIDER = "[data-testid='stSlider'] input[type='range']"
IMAGES = "[data-testid='stMain'] [data-testid='stImage'] img"
QUIET_MS = 300  # a change is over when no websocket message has come for this long after the picture

# Installed before any page script: stamps websocket traffic, keydowns and image changes with performance.now().
PROBE = """
(() => {
  const IMAGES = "%s";
  const log = window.__bench = {send: [], recv: [], keys: [], arm: null, first: null};  // ms since navigation
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', e => log.recv.push(performance.now()));
    }
    send(data) { log.send.push(performance.now()); return super.send(data); }
  };
  addEventListener('keydown', () => log.keys.push(performance.now()), true);
  performance.setResourceTimingBufferSize(1000000);  // the default 250 entries run out within one page
  const shown = (img, done) => {
    const paint = () => requestAnimationFrame(() => done(performance.now()));
    if (img.complete && img.naturalWidth > 0) paint();
    else img.addEventListener('load', paint, {once: true});
  };
  const check = () => {
    const imgs = document.querySelectorAll(IMAGES);
    if (!imgs.length) return;
    if (log.first === null) { log.first = -1; shown(imgs[0], t => { log.first = t; }); }
    const arm = log.arm;
    if (!arm) return;
    // Index 0 is the decoded image; the last one (when there are two or more) the traversal strip.
    [0, imgs.length - 1].forEach((i, slot) => {
      if (slot === 1 && i === 0) return;
      const img = imgs[i], r = arm.images[slot];
      if (r.src !== null || !img.src || img.src === arm.before[slot]) return;
      r.src = img.src; r.changed = performance.now();
      img.addEventListener('load', () => { r.loaded = performance.now(); }, {once: true});
      if (img.complete && img.naturalWidth > 0) r.loaded = performance.now();
      shown(img, t => { r.shown = t; });
    });
  };
  new MutationObserver(check).observe(document, {subtree: true, childList: true, attributes: true,
                                                 attributeFilter: ['src']});
  window.__benchArm = () => {
    const imgs = document.querySelectorAll(IMAGES);
    const before = [imgs[0] ? imgs[0].src : null, imgs.length > 1 ? imgs[imgs.length - 1].src : null];
    const image = () => ({src: null, changed: null, loaded: null, shown: null});
    log.arm = {before, images: [image(), image()], keys: log.keys.length, send: log.send.length,
               recv: log.recv.length, two: imgs.length > 1};
  };
  window.__benchDone = quiet => {
    const arm = log.arm, now = performance.now(), last = log.recv[log.recv.length - 1] || 0;
    const settled = r => r.shown !== null && now - r.shown > quiet;
    return settled(arm.images[0]) && (!arm.two || arm.images[1].shown !== null) && now - last > quiet;
  };
  window.__benchResult = () => {
    const arm = log.arm;
    const timing = src => {
      const e = performance.getEntriesByName(src).pop();
      return e ? {start: e.startTime, request: e.requestStart, response: e.responseStart, end: e.responseEnd,
                  bytes: e.encodedBodySize} : null;
    };
    return {key: log.keys[arm.keys], send: log.send.slice(arm.send), recv: log.recv.slice(arm.recv),
            images: arm.images.map(r => ({...r, fetch: r.src ? timing(r.src) : null})), two: arm.two};
  };
})();
""" % IMAGES.replace('"', '\\"')


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        chromium = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True,
                                  timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        chromium = "chromium (version unknown)"
    import streamlit
    import torch
    return (f"{cpu}, {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}; "
            f"{chromium}; streamlit {streamlit.__version__}, torch {torch.__version__}")


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[94] if len(values) > 1 else values[0]


def open_page(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(IMAGES, timeout=120_000)
    wait_idle(page, timeout=120_000)
    page.wait_for_function("() => window.__bench.first > 0", timeout=60_000)


def choose_model(page, name: str) -> None:
    """Pick the model whose label starts with name in the sidebar selectbox."""
    page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").first.click()
    page.locator("[role='option']").filter(has_text=name).first.click()
    page.wait_for_function(
        "name => [...document.querySelectorAll(\"[data-testid='stSidebar'] [data-testid='stSelectbox'] input\")]"
        ".some(e => e.value.startsWith(name))", arg=name, timeout=30_000)
    page.wait_for_timeout(500)
    wait_idle(page, timeout=120_000)
    page.wait_for_selector(IMAGES, timeout=60_000)
    page.wait_for_timeout(1000)


def slider_changes(page, n: int, pattern: str, warmup: int = 3) -> list[dict]:
    """n timed changes of the first slider (after a few untimed ones); one dict of page timestamps each."""
    thumb = page.locator(SLIDER).first
    thumb.focus()
    records = []
    for i in range(warmup + n):
        key = "ArrowRight" if pattern == "sweep" or i % 2 == 0 else "ArrowLeft"
        page.evaluate("() => window.__benchArm()")
        page.keyboard.press(key)
        page.wait_for_function(f"() => window.__benchDone({QUIET_MS})", timeout=60_000, polling=20)
        if i >= warmup:
            records.append(page.evaluate("() => window.__benchResult()"))
    return records


def summarise(records: list[dict]) -> dict:
    """Latency and where it went, per change, in ms."""
    out = {k: [] for k in ("total", "debounce", "server_image", "server_all", "fetch", "browser", "strip")}
    for r in records:
        key, first = r["key"], r["images"][0]
        out["total"].append(first["shown"] - key)
        if not r["send"]:
            continue
        send = r["send"][0]
        out["debounce"].append(send - key)
        # The message that carried the new image: the last one before its src changed.
        before = [t for t in r["recv"] if t <= first["changed"] + 0.5]
        if before:
            out["server_image"].append(before[-1] - send)
            out["browser"].append(first["shown"] - before[-1])
        out["server_all"].append(r["recv"][-1] - send)  # up to the script-finished message
        if first["fetch"] and first["fetch"]["start"] >= first["changed"] - 1:  # not an earlier fetch of that URL
            out["fetch"].append(first["fetch"]["end"] - first["fetch"]["start"])
        if r["two"] and r["images"][1]["shown"]:
            out["strip"].append(r["images"][1]["shown"] - key)
    return out


def first_image_times(url: str, browser, loads: int) -> list[tuple[float, float]]:
    """(first image on screen, first websocket message sent) in ms from navigation start, for the first
    load and then `loads` more, each in a fresh browser context (empty cache, new session)."""
    times = []
    for _ in range(loads + 1):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            page = context.new_page()
            page.add_init_script(PROBE)
            page.goto(url)
            page.wait_for_function("() => window.__bench.first > 0", timeout=180_000, polling=20)
            times.append(page.evaluate("() => [window.__bench.first, window.__bench.send[0]]"))
        finally:
            context.close()
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=60, help="timed slider changes per page (default 60)")
    parser.add_argument("--loads", type=int, default=5, help="fresh page loads for the first-image time")
    parser.add_argument("--pattern", choices=("sweep", "alternate"), default="sweep")
    parser.add_argument("--no-gc-rows", action="store_true", help="skip the runner.postScriptGC=false rows")
    parser.add_argument("--data-dir", default=os.environ.get("VAE_DATA_DIR", str(ROOT.parent / "shared/data/mnist")))
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"skipped: {CHROMIUM} missing")
    (ROOT / "test-artifacts").mkdir(exist_ok=True)  # the server logs land there
    env = {"VAE_DATA_DIR": args.data_dir}
    started, load = time.time(), os.getloadavg()[0]
    rows, first = {}, {}

    with chromium_page() as page:
        browser = page.context.browser
        page.add_init_script(PROBE)

        with streamlit_server(ROOT / "benchmarks" / "bare_slider_app.py") as url:
            print(f"bare page: {url}", flush=True)
            open_page(page, url)
            rows["bare slider + image (floor)"] = summarise(slider_changes(page, args.changes, args.pattern))

        with streamlit_server(ROOT / "app.py", env=env) as url:
            print(f"home page: {url}", flush=True)
            first["home `/`"] = first_image_times(url, browser, args.loads)

        with streamlit_server(ROOT / "app.py", env=env) as url:
            print(f"sliders page: {url}/Latent_sliders", flush=True)
            first["sliders `/Latent_sliders`"] = first_image_times(f"{url}/Latent_sliders", browser, args.loads)
            open_page(page, f"{url}/Latent_sliders")
            rows["Latent sliders, digits-2d (default)"] = summarise(slider_changes(page, args.changes, args.pattern))
            choose_model(page, "mnist-16d")
            rows["Latent sliders, mnist-16d"] = summarise(slider_changes(page, args.changes, args.pattern))

        if not args.no_gc_rows:
            with streamlit_server(ROOT / "app.py", env={**env, "STREAMLIT_RUNNER_POST_SCRIPT_GC": "false"}) as url:
                print(f"sliders page, runner.postScriptGC=false: {url}/Latent_sliders", flush=True)
                open_page(page, f"{url}/Latent_sliders")
                rows["Latent sliders, digits-2d, postScriptGC=false"] = summarise(
                    slider_changes(page, args.changes, args.pattern))
                choose_model(page, "mnist-16d")
                rows["Latent sliders, mnist-16d, postScriptGC=false"] = summarise(
                    slider_changes(page, args.changes, args.pattern))

    floor = statistics.median(rows["bare slider + image (floor)"]["total"])
    print(f"\nMachine: {machine()}; load average {load:.1f} at the start, "
          f"{os.getloadavg()[0]:.1f} at the end (1 min)")
    print(f"Chromium headless ({' '.join(['--headless', '--no-sandbox', '--disable-gpu'])}), "
          f"pattern {args.pattern}, {args.changes} timed changes per page; run took {time.time() - started:.0f} s\n")
    print("| page | changes | median ms | p95 ms | median minus bare floor ms |")
    print("| --- | --- | --- | --- | --- |")
    for name, s in rows.items():
        total = s["total"]
        print(f"| {name} | {len(total)} | {statistics.median(total):.0f} | {p95(total):.0f} | "
              f"{statistics.median(total) - floor:+.0f} |")

    print("\nWhere the time goes (medians, ms): key to websocket send (slider debounce); send to the message "
          "carrying the new image (server rerun up to that image); send to the last message (whole rerun); "
          "image message to the picture on screen (render, media fetch, decode); the media fetch alone; "
          "key to the traversal strip on screen.\n")
    print("| page | debounce | server to image | server whole rerun | browser after image message | media fetch | "
          "strip on screen |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    med = lambda v: f"{statistics.median(v):.0f}" if v else "-"  # noqa: E731
    for name, s in rows.items():
        print(f"| {name} | {med(s['debounce'])} | {med(s['server_image'])} | {med(s['server_all'])} | "
              f"{med(s['browser'])} | {med(s['fetch'])} | {med(s['strip'])} |")

    print(f"\nOpening the app to the first decoded image on screen (ms from navigation start, fresh browser "
          f"context each time, server already up, default model digits-2d); in brackets, when the page's "
          f"JavaScript had booted and sent its first websocket message:\n")
    print(f"| page | first load in a fresh server | median of next {args.loads} loads | min | max |")
    print("| --- | --- | --- | --- | --- |")
    for name, (cold, *rest) in first.items():
        shown, boot = [t[0] for t in rest], [t[1] for t in rest]
        print(f"| {name} | {cold[0]:.0f} ({cold[1]:.0f}) | {statistics.median(shown):.0f} "
              f"({statistics.median(boot):.0f}) | {min(shown):.0f} | {max(shown):.0f} |")


if __name__ == "__main__":
    main()
