"""Bytes the browser fetches by URL (decoder weights, scatter points): files under static/, which Streamlit
serves at /app/static/ (server.enableStaticServing, its documented static file serving).

A file is named by a digest of its content, so the same bytes get the same URL on every rerun, in every
session and on every replica; the browser fetches each once and caches it. Files unused for a day are
deleted, and written again when a page needs them.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "static" / "served"  # static/ beside app.py is what Streamlit serves
MAX_IDLE_S = 86400


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def url(data: bytes, known_digest: str | None = None) -> str:
    """The URL of a file holding data, written now if it is not there yet (pass digest(data) if known)."""
    name = (known_digest or digest(data)) + ".bin"
    path = FOLDER / name
    try:
        if time.time() - path.stat().st_mtime > 3600:
            os.utime(path)  # in use: not idle
    except FileNotFoundError:
        write_file(path, data)
    return path_url(name)


def path_url(name: str) -> str:
    """The URL the browser fetches the file FOLDER/name at."""
    base = st.get_option("server.baseUrlPath").strip("/")
    return f"{'/' + base if base else ''}/app/static/served/{name}"


MODULE = ".module.bin"  # a component's JavaScript: kept however long it goes unfetched (it changes with the code)

# A component's module as Streamlit is given it: it imports the real module (the served file at URL) once per page.
# Streamlit sends a component's JavaScript inside the element with every rerun (36 KB for the live view, twice a
# second); this stands in its place at 0.6 KB.
_LOADER = """const url = %s;
const modules = window.__vaeLabModules = window.__vaeLabModules || {};
modules[url] = modules[url] || fetch(url)
  .then(r => { if (!r.ok) throw new Error(`HTTP ${r.status}`); return r.text(); })
  .then(code => import(URL.createObjectURL(new Blob([code], { type: "text/javascript" }))));
export default function (component) {
  let cleanup = null, gone = false;
  modules[url].then(module => { if (!gone) cleanup = module.default(component); },
                    error => { component.parentElement.textContent = `Could not load this view: ${error.message}`; });
  return () => { gone = true; if (typeof cleanup === "function") cleanup(); };
}"""


def module(code: str) -> str:
    """A components-v2 module that loads the module `code` from a served file (written now): pass it as a
    component's js, so that the code travels once per page instead of with every rerun."""
    import json

    data = code.encode()
    name = digest(data) + MODULE
    if not (FOLDER / name).is_file():
        write_file(FOLDER / name, data)
    return _LOADER % json.dumps(path_url(name))


def forget(served_url: str) -> None:
    """Delete the file behind a URL of url() now (bytes nobody will ask for again, such as a live run's older
    decoders); a URL that names no file here is ignored."""
    name = served_url.rsplit("/", 1)[-1]
    if name.endswith(".bin") and name == Path(name).name:
        (FOLDER / name).unlink(missing_ok=True)


SWEEP_EVERY_S = 60.0
_swept = 0.0  # time.monotonic() of this process's last sweep


def write_file(path: Path, data: bytes, sweep: bool = True) -> None:
    """Write data to path under FOLDER, whole or not at all (a browser may be fetching it); with sweep, delete the
    files idle for a day first, at most once a minute (a sweep stats every file here: with a few hundred, 1.7 ms,
    and live runs write a new decoder each a second or so)."""
    global _swept
    FOLDER.mkdir(parents=True, exist_ok=True)
    if sweep and time.monotonic() - _swept > SWEEP_EVERY_S:
        _swept = time.monotonic()
        for old in FOLDER.iterdir():
            try:
                if time.time() - old.stat().st_mtime > MAX_IDLE_S and not old.name.endswith(MODULE):
                    old.unlink()
            except OSError:
                pass
    # a partial file of this path, process and thread: no other writer shares it (mkstemp's random name cost more)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # whole or not at all: another session may be fetching it
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
