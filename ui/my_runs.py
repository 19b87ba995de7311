"""The runs and uploads that are this browser's: started here under a fresh folder of the runs folder, and
remembered, so that a reload (a new session) lists them again, in class mode too, where nobody sees anyone else's.

The browser keeps a random token in a cookie (set by a tiny component, read back by the next session's first
request); runs/.owners/<a digest of the token> lists the checkpoint folders made with it, one per line. The digest,
not the token, names the file: someone who can read the runs folder learns nobody's token.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from pathlib import Path

import streamlit as st

from vae_core import Dataset
from vae_core.checkpoint import new_run_dir
from vae_core.runs import RunGroup, start_runs

from . import resources, state

COOKIE = "vae_lab_owner"
TOKEN = re.compile(r"[0-9a-f]{32}")
OWNERS = ".owners"  # under the runs folder; hidden, so never taken for a run
MOST_REMEMBERED = 1000  # lines read back from one browser's list
_cookie = st.components.v2.component(
    "owner_cookie",
    js="""export default function ({ data }) {
  const cookie = `${data.name}=${data.value}`;
  if (!document.cookie.split("; ").includes(cookie)) {
    document.cookie = `${cookie}; path=/; max-age=${60 * 60 * 24 * 365}; SameSite=Strict`;
  }
}""")


def token() -> str:
    """This browser's token: the cookie its first request carried, or a new one (kept by keep_cookie())."""
    if state.OWNER not in st.session_state:
        sent = st.context.cookies.get(COOKIE)  # as the browser sent it: anything at all
        st.session_state[state.OWNER] = sent if isinstance(sent, str) and TOKEN.fullmatch(sent) else \
            secrets.token_hex(16)
    return st.session_state[state.OWNER]


def welcome() -> None:
    """On a session's first run, list this browser's runs and uploads from before (app.py calls it first)."""
    if state.MY_MODELS not in st.session_state:
        st.session_state[state.MY_MODELS] = remembered()


def keep_cookie() -> None:
    """Put the token in the browser's cookie (the sidebar calls this on every run; it draws nothing)."""
    _cookie(key="owner_cookie", data={"name": COOKIE, "value": token()})


def start(configs, data: Dataset, what, **options) -> RunGroup:
    """Start runs.start_runs(configs, data, ..., **options) in a new folder of the runs folder named after what (a
    Config, or a word such as "sweep-digits"), remembered as this browser's."""
    group = start_runs(configs, data, new_run_dir(resources.runs_dir(), what), **options)
    for run in group:
        remember(run.folder)
    return group


def remember(folder: str | Path) -> None:
    """List a checkpoint folder as this browser's (appended: one short line, whole, even with replicas writing)."""
    index = _index()
    index.parent.mkdir(parents=True, exist_ok=True)
    with open(index, "a") as f:
        f.write(str(Path(folder).resolve()) + "\n")


def remembered() -> list[str]:
    """This browser's checkpoints that still exist, oldest first (runs still training are not listed yet)."""
    try:
        lines = _index().read_text().splitlines()[-MOST_REMEMBERED:]
    except (OSError, UnicodeDecodeError):
        return []
    root = resources.runs_dir().resolve()
    folders = dict.fromkeys(line for line in lines if line)
    return [f for f in folders if Path(f).is_relative_to(root) and resources.is_checkpoint(f)]


def _index() -> Path:
    return resources.runs_dir() / OWNERS / hashlib.sha256(token().encode()).hexdigest()[:32]
