"""Links that reopen a view: the address bar's query string carries the state that matters (the model, the latent
point, the chosen test image, beta, the pad's axes, the map's projection and grid), so a reload restores it and a
copied link opens the same view for someone else on the same server (a run trained here included: that is how a
student shares one). A link may also open a page at one of its sections (section=, the header's anchor), scrolled
there once.

app.py calls restore() before the page runs: parameters that differ from what this session last wrote, on the
session's first run or on arriving at another page, came from a link, and are applied (model and point here,
the others handed to the pages through take()). Values are written back as they change, with write(). A parameter
that cannot be used gives a notice and the default.
"""
from __future__ import annotations

import re
import reprlib
from pathlib import Path

import streamlit as st

from vae_core import VAEError

from . import my_runs, resources, state

RUNS_PREFIX = "runs/"      # a model under the runs folder; any other name is under models/
MODEL_REF = re.compile(r"[A-Za-z0-9._/ ()-]+")  # what model_ref writes: folder names of ours
MOST_REF = 200
AXIS = re.compile(r"[0-9]{1,4}")  # a dimension's index in a link (at most 512 of them)
NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?")  # a number in a link
EXCERPT = 40               # characters of a refused value a notice repeats


def model_ref(path: str) -> str:
    """How a link names a checkpoint: relative to models/ for shipped ones, "runs/..." for saved runs."""
    path = Path(path).resolve()
    for root, prefix in ((resources.SHIPPED_DIR, ""), (resources.runs_dir(), RUNS_PREFIX)):
        if path.is_relative_to(root.resolve()):
            return prefix + path.relative_to(root.resolve()).as_posix()
    return str(path)


def model_path(ref: str) -> str:
    """The checkpoint a link names, which must lie under models/ or the runs folder; VAEError otherwise, saying so
    with the link's own words (never a path of the server's)."""
    refused = VAEError(f"model {excerpt(ref)} is not a model of this server")
    if len(ref) > MOST_REF or not MODEL_REF.fullmatch(ref):
        raise refused
    root, rest = ((resources.runs_dir(), ref[len(RUNS_PREFIX):]) if ref.startswith(RUNS_PREFIX)
                  else (resources.SHIPPED_DIR, ref))
    try:
        path = (root / rest).resolve()
        # a folder: its weights file alone (mnist-2d/model.safetensors) was a model without its metrics, which
        # the KL page's likelihood curve estimated again, both cores for two minutes
        if not path.is_relative_to(root.resolve()) or not rest or not path.is_dir():
            raise refused
        if model_ref(str(path)) != ref.rstrip("/"):  # its own name only: ../models/mnist-2d, or the server's path
            raise refused                             # to it, told a student where the app was installed
        resources.summary(str(path))  # raises if it is not a readable checkpoint
    except (VAEError, OSError, ValueError):
        raise refused from None
    return str(path)


def write(name: str, value) -> None:
    """Put name=value in the address bar (a list is written comma-separated), if it changed."""
    number = lambda v: f"{v + 0:g}" if isinstance(v, (int, float)) else str(v)  # noqa: E731  (+ 0: -0.0 is 0)
    text = ",".join(map(number, value)) if isinstance(value, (list, tuple)) else number(value)
    written = st.session_state.setdefault(state.LINK_WRITTEN, {})
    if st.query_params.get_all(name) != [text]:  # (a link that gave it twice, ?model=a&model=b, keeps it once)
        st.query_params[name] = text
    written[name] = text


def restore(page: str) -> None:
    """Apply the query string's parameters that this session did not write itself (a link was opened), when the
    session starts or moves to another page (page: the page about to run). A rerun of the same page carries the
    browser's copy of the query string, which lags behind what the last runs wrote when the user acts quickly
    (arrow keys on a slider): applying it would pull the point back to where it was a few runs ago."""
    opened, st.session_state[state.LINK_PAGE] = st.session_state.get(state.LINK_PAGE) != page, page
    if not opened:
        return
    incoming = st.query_params.to_dict()
    written = st.session_state.get(state.LINK_WRITTEN, {})
    arrived = {k: v for k, v in incoming.items() if written.get(k) != v}
    for name, value in arrived.items():  # (?model=a&model=b opened b without a word)
        if len(given := st.query_params.get_all(name)) > 1:
            notice(f"this link gives {excerpt(name)} {len(given)} times: using the last, {excerpt(value)}")
    st.session_state[state.LINK_WRITTEN] = dict(incoming)
    if arrived:
        apply(arrived)


def apply(params: dict) -> None:
    """Use a link's parameters in this session: the model and the point at once, the others kept for the pages to
    take(). restore() applies what a link brought; the lesson applies a step's before switching page, so that what
    app.py writes into the address bar as that run ends is already the step's."""
    if "model" in params:
        try:
            path = model_path(params["model"])
        except VAEError as e:
            notice(f"this link's {e}; showing {resources.DEFAULT_MODEL.name} instead")
            path = str(resources.DEFAULT_MODEL)
        list_linked(path)
        st.session_state[state.MODEL] = path
    if "z" in params:
        point = _numbers(params["z"])
        dim = resources.summary(st.session_state.get(state.MODEL, str(resources.DEFAULT_MODEL))).config.latent_dim
        if point is None or len(point) != dim:
            notice(f"this link's latent point z={excerpt(params['z'])} is not {dim} numbers for this model: "
                   "starting from the origin")
        else:
            if any(abs(v) > state.RANGE for v in point):  # (it was moved there without a word)
                notice(f"this link's latent point z={excerpt(params['z'])} goes past the sliders' ±{state.RANGE:g}: "
                       "moved to their ends")
            state.set_latent_point(point)
    st.session_state[state.LINK_PENDING] = {k: v for k, v in params.items() if k not in ("model", "z")}


def list_linked(path: str) -> None:
    """List a model a link named in this session's picker; a run of the runs folder (a classmate's) also in this
    browser's list, as its own runs are (a student's next visit had lost it), whether the link made it A or
    Compare's B."""
    state.list_model(path)
    if Path(path).is_relative_to(resources.runs_dir().resolve()):
        my_runs.remember(path)


def take(name: str):
    """The raw value a link gave for a page parameter (once), or None."""
    return st.session_state.get(state.LINK_PENDING, {}).pop(name, None)


def take_number(name: str, allowed=None, low: float | None = None, high: float | None = None,
                whole: bool = False) -> float | None:
    """A link's number for name, if it is one (a whole one if whole; in allowed, or within [low, high]); a notice
    saying what was expected otherwise."""
    raw = take(name)
    if raw is None:
        return None
    numbers = _numbers(raw)
    value = numbers[0] if numbers and len(numbers) == 1 else None
    fits = value is not None and (not whole or value == int(value)) and (
        value in allowed if allowed is not None else (low is None or value >= low) and (high is None or value <= high))
    if not fits:
        wanted = (f"one of {', '.join(f'{v:g}' for v in allowed)}" if allowed is not None else
                  f"a {'whole ' if whole else ''}number" + (f" from {low:g} to {high:g}" if None not in (low, high)
                                                            else ""))
        notice(f"this link's {name}={excerpt(raw)} is not {wanted}: using the default")
        return drop(name)
    return int(value) if whole else value


def take_choice(name: str, choices) -> str | None:
    """A link's name=CHOICE, one of choices; a notice saying which there are otherwise."""
    raw = take(name)
    if raw is None or raw in choices:
        return raw
    notice(f"this link's {name}={excerpt(raw)} is not one of {', '.join(choices)}: using the default")
    return drop(name)


def drop(name: str) -> None:
    """Take a parameter out of the address bar: a refused one (a page that writes no default for it, the map with no
    image chosen, kept image=-1 there: a reload told the same refusal again, and a copied link passed it on), or one
    that no longer holds (the map's image after another model was chosen: a reload chose it on that model)."""
    if name in st.query_params:
        del st.query_params[name]
    st.session_state.get(state.LINK_WRITTEN, {}).pop(name, None)


def take_axes(allowed) -> tuple[int, int] | None:
    """A link's axes=I,J: two different dimensions among allowed; a notice otherwise."""
    raw = take("axes")
    if raw is None:
        return None
    pair = raw.split(",")  # ASCII digits only: '²'.isdigit() is true and int('²') raises, as int() of 5,000 digits
    if len(pair) == 2 and all(AXIS.fullmatch(p) and int(p) in allowed for p in pair) and int(pair[0]) != int(pair[1]):
        return int(pair[0]), int(pair[1])
    notice(f"this link's axes={excerpt(raw)} are not two different dimensions among the {len(allowed)} most "
           "informative: using the default")
    return drop("axes")


def take_no_axes(latent_dim: int) -> None:
    """A link's axes= on a model whose pad has no choice of axes (z0 across, z1 up): a notice unless it named those.
    Out of the address bar either way, as a wider model's axes are once another model is chosen (they stayed
    there, unused, and a copied link passed them on)."""
    raw = take("axes")
    if raw not in (None, "0,1"):
        notice(f"this link's axes={excerpt(raw)} do not apply: a model with {latent_dim} latent dimension"
               f"{'s' if latent_dim > 1 else ''} has the pad's axes fixed")
    drop("axes")


def take_section(sections) -> str | None:
    """A link's section=NAME, the anchor of one of this page's headers (sections), to scroll to once: out of the
    address bar after (a reload, or a link copied further down the page, opens where the reader is). None if there
    is none; a notice for one that is not among sections."""
    raw = take("section")
    if raw is None:
        return None
    drop("section")
    if raw in sections:
        return raw
    notice(f"this link's section={excerpt(raw)} is not a section of this page (its sections: {', '.join(sections)})")
    return None


_scroll = st.components.v2.component(
    "scroll_to_section",
    js="""export default function ({ data }) {
  // Scroll to the header once the page draws it, and again while the charts above it still grow (for a few
  // seconds), unless the reader scrolls first
  const start = Date.now();
  let found = 0, touched = false;
  const stop = () => { touched = true; };
  for (const type of ["wheel", "touchstart", "keydown", "mousedown"]) addEventListener(type, stop, { once: true });
  const timer = setInterval(() => {
    const header = document.getElementById(data.id);
    if (header && !found) found = Date.now();
    if (header && !touched && Math.abs(header.getBoundingClientRect().top) > 2) header.scrollIntoView({ block: "start" });
    if (touched || Date.now() - start > 30000 || (found && Date.now() - found > 4000)) clearInterval(timer);
  }, 200);
  return () => clearInterval(timer);
}""")


def scroll_to(anchor: str) -> None:
    """Scroll the page to the header of that anchor (as a link's section asks: take_section)."""
    _scroll(key=f"scroll_to_{anchor}", data={"id": anchor})


def _numbers(text: str) -> list[float] | None:
    """The comma-separated numbers of a link's value, written as decimals in ASCII (float() also reads '٣' as 3,
    '1_0' as 10, 'nan' and 'inf'), or None."""
    parts = text.split(",")
    if not all(NUMBER.fullmatch(part) for part in parts):
        return None
    values = [float(part) for part in parts]
    return values if all(abs(v) != float("inf") for v in values) else None


def excerpt(raw) -> str:
    """A value from outside as a notice repeats it: at most EXCERPT characters, control characters escaped; a string
    quoted, any other value (a component's JSON) written to a few levels and items, however deep or long it is."""
    if not isinstance(raw, str):
        text = _SHALLOW.repr(raw)
        return text if len(text) <= EXCERPT else text[:EXCERPT] + "…"
    text = repr(raw[:EXCERPT])
    return text[:-1] + "…" + text[-1] if len(raw) > EXCERPT else text


_SHALLOW = reprlib.Repr()
_SHALLOW.maxlevel, _SHALLOW.maxlist, _SHALLOW.maxdict = 3, 4, 4
_SHALLOW.maxstring = _SHALLOW.maxlong = _SHALLOW.maxother = EXCERPT


def notice(message: str) -> None:
    """A notice that stays until closed: one gone after 4 s was missed by whoever looked at the page a moment later."""
    st.toast(message[0].upper() + message[1:] + ".", icon=":material/link_off:", duration="infinite")
