"""Bytes the browser fetches by URL (decoder weights, scatter points): files under static/, which Streamlit
serves at /app/static/ (server.enableStaticServing, its documented static file serving).

A file is named by a digest of its content, so the same bytes get the same URL on every rerun, in every
session and on every replica; the browser fetches each once and caches it. Files unused for a day are
deleted, and written again when a page needs them.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
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
        _write(path, data)
    base = st.get_option("server.baseUrlPath").strip("/")
    return f"{'/' + base if base else ''}/app/static/served/{name}"


def forget(served_url: str) -> None:
    """Delete the file behind a URL of url() now (bytes nobody will ask for again, such as a live run's older
    decoders); a URL that names no file here is ignored."""
    name = served_url.rsplit("/", 1)[-1]
    if name.endswith(".bin") and name == Path(name).name:
        (FOLDER / name).unlink(missing_ok=True)


def _write(path: Path, data: bytes) -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    for old in FOLDER.iterdir():  # a cheap sweep whenever something new is written
        try:
            if time.time() - old.stat().st_mtime > MAX_IDLE_S:
                old.unlink()
        except OSError:
            pass
    fd, tmp = tempfile.mkstemp(dir=FOLDER, prefix=".", suffix=".partial")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)  # whole or not at all: another session may be fetching it
