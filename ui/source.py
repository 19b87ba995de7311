"""The code beside the formulas: the source of vae_core's model and objective read from the running modules
(inspect), the lines that compute each term of the notes' formulas found by what they contain, and that code as HTML
whose lines a term highlights (the Home page), and the reduction lesson's two loss lines side by side."""
from __future__ import annotations

import html
import inspect
import io
import keyword
import textwrap
import tokenize
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from vae_core import model, objective

ROOT = Path(model.__file__).resolve().parent.parent
ANCHOR = "vae-src-"  # a term's link points to the id ANCHOR + key, an anchor in the term's first line


@dataclass(frozen=True)
class Listing:
    """One function's source as inspect reads it from its running module."""
    name: str                # qualified name, "VAE.encode"
    path: str                # its file, from the repository's root
    first: int               # the file's line number of lines[0]
    lines: tuple[str, ...]   # as inspect.getsourcelines gives them, without the newlines

    @classmethod
    def of(cls, function) -> Listing:
        lines, first = inspect.getsourcelines(function)
        path = Path(inspect.getsourcefile(function)).resolve().relative_to(ROOT).as_posix()
        return cls(function.__qualname__, path, first, tuple(line.rstrip("\n") for line in lines))

    def find(self, text: str) -> list[int]:
        """Indices of the lines containing text; LookupError if none does: the code changed, and whoever points at
        its lines must follow."""
        found = [i for i, line in enumerate(self.lines) if text in line]
        if not found:
            raise LookupError(f"no line of {self.path}::{self.name} contains {text!r} any more")
        return found


@dataclass(frozen=True)
class Term:
    """A term of the notes' formulas and the code that computes it."""
    key: str                                   # its anchor's and CSS classes' name
    shown: str                                 # the term as its link writes it
    colour: str                                # of its link's border and its lines when lit
    computed_by: tuple[tuple[str, str], ...]   # (function's qualified name, text of a line computing the term)


# In reading order: the encoder's two heads, the draw, the decoder, then the objective from its entry point.
SHOWN = (model.VAE.__init__, model.VAE.encode, model.VAE.reparameterize, model.VAE.decode, model.VAE.forward,
         objective.negative_elbo, objective.recon_nll, objective.bernoulli_nll, objective.kl_per_dim,
         objective.combine)

TERMS = (
    Term("mu", "μ = f₁(x)", "#1f77b4", (("VAE.__init__", "self.mu_head = nn.Linear("),
                                        ("VAE.encode", "self.mu_head(h)"))),
    Term("logvar", "log σ² = f₂(x)", "#9467bd", (("VAE.__init__", "self.logvar_head = nn.Linear("),
                                                  ("VAE.encode", "self.logvar_head(h)"))),
    Term("z", "z = μ + ε ⊙ σ", "#2ca02c", (("VAE.reparameterize", "eps = torch.randn("),
                                           ("VAE.reparameterize", "mu + eps * torch.exp(0.5 * logvar)"),
                                           ("VAE.forward", "z = self.reparameterize(mu, logvar"))),
    Term("decoder", "x̂ = sigmoid(g(z))", "#8c564b", (("VAE.__init__", "self.decoder = "),
                                                     ("VAE.decode", "return self.decoder(z)"),
                                                     ("VAE.forward", "return self.decode(z)"),
                                                     ("bernoulli_nll", "binary_cross_entropy_with_logits("))),
    Term("recon", "−Σⱼ log p(xⱼ | z): summed BCE", "#ff7f0e",
         (("negative_elbo", "recon_nll(x_logits, x, likelihood"), ("recon_nll", "return bernoulli_nll("),
          ("bernoulli_nll", 'reduction="none").sum(-1)'), ("combine", "loss=recon.mean(-1)"))),
    Term("kl", "KL = ½ Σᵢ (μᵢ² + σᵢ² − log σᵢ² − 1)", "#d62728",
         (("negative_elbo", "kl_per_dim(mu, logvar)"), ("kl_per_dim", "0.5 * (mu.pow(2) + logvar.exp() - logvar - 1)"),
          ("combine", "kl = kld.sum(-1)"), ("combine", "kl_term = kl.mean(-1)"))),
    Term("beta", "β", "#e377c2", (("combine", "+ beta * kl_term"),)),
)


def listings(functions=SHOWN) -> list[Listing]:
    return [Listing.of(function) for function in functions]


def locate(shown: list[Listing], terms=TERMS) -> dict[str, list[tuple[str, int]]]:
    """term key -> (function, line index) of each line that computes it, in the order shown. LookupError names a
    term whose line is no longer in its function."""
    by_name = {listing.name: listing for listing in shown}
    order = {listing.name: k for k, listing in enumerate(shown)}
    return {term.key: sorted({(name, i) for name, text in term.computed_by for i in by_name[name].find(text)},
                             key=lambda place: (order[place[0]], place[1]))
            for term in terms}


def show_beside_formulas() -> None:
    """The model's and the objective's source as it runs, each formula term a link to the lines that compute it."""
    st.caption("Read from `vae_core` as this page runs (`inspect.getsource`): the model the pages encode and decode "
               "with, and the objective every training step and score computes. Hover over a term, or click it, to "
               "see the lines that compute it.")
    st.html(formulas_html(listings()))


def formulas_html(shown: list[Listing], terms=TERMS) -> str:
    """The terms as links over the listings, each term's lines in its classes and its first line its anchor."""
    places = locate(shown, terms)
    marks: dict[tuple[str, int], list[str]] = {}
    anchors: dict[tuple[str, int], list[str]] = {}  # one line may start two terms
    for key, lines in places.items():
        for place in lines:
            marks.setdefault(place, []).append(key)
        anchors.setdefault(lines[0], []).append(ANCHOR + key)
    by_name = {s.name: s for s in shown}
    links = "".join(f'<a class="term term-{t.key}" href="#{ANCHOR}{t.key}" title="{_where(places[t.key], by_name)}">'
                    f"{html.escape(t.shown)}</a>" for t in terms)
    blocks = [_block(f"{s.path} · {s.name}", s.lines, s.first,
                     {i: marks.get((s.name, i), ()) for i in range(len(s.lines))},
                     {i: anchors.get((s.name, i), ()) for i in range(len(s.lines))}) for s in shown]
    return _code(blocks, f"<div class='terms'>{links}</div>", _term_css(terms))


def _where(places, by_name) -> str:
    """Where a term is computed, for its link's tooltip: "vae_core/model.py lines 20, 27"."""
    files: dict[str, list[int]] = {}
    for name, i in places:
        files.setdefault(by_name[name].path, []).append(by_name[name].first + i)
    return "; ".join(f"{path} line{'s' * (len(numbers) > 1)} {', '.join(map(str, sorted(numbers)))}"
                     for path, numbers in files.items())


# The reduction lesson's two versions: ours read from objective.py (function, its first line, its last line), the
# other as much VAE code writes it
SUMMED = (("bernoulli_nll", 'reduction="none").sum(-1)', None), ("kl_per_dim", "logvar.exp()", None),
          ("combine", "kl = kld.sum(-1)", "recon_divisor=divisor)"))
AVERAGED = """\
# averaged over the batch and the pixels: PyTorch's default
recon = F.binary_cross_entropy(x_hat, x, reduction="mean")
# summed over the latent dimensions, averaged over the batch
kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1).mean()
loss = recon + beta * kl"""
LOSS_LINES = ('reduction="none").sum(-1)', "loss=recon.mean(-1)", 'reduction="mean")', "loss = recon")


def summed_excerpts() -> list[tuple[Listing, int, list[str]]]:
    """The lines of objective.py that make the summed loss: (function, index of the first line, the lines
    dedented), one statement each but combine's, from the KL's sum to the loss."""
    excerpts = []
    for name, start, end in SUMMED:
        listing = Listing.of(getattr(objective, name))
        first = listing.find(start)[0]
        last = listing.find(end)[0] if end else first
        excerpts.append((listing, first, textwrap.dedent("\n".join(listing.lines[first:last + 1])).split("\n")))
    return excerpts


def show_loss_lines() -> None:
    """The loss line twice, side by side: summed as vae_core/objective.py computes it, averaged as much VAE code
    writes it; the reconstruction's line and the loss's lit in each."""
    def lit(lines):
        return {i: ("loss",) * any(text in line for text in LOSS_LINES) for i, line in enumerate(lines)}

    ours, theirs = st.columns(2)
    with ours:
        st.markdown("**Summed**, as `vae_core/objective.py` writes it (read as the page runs; training and scoring "
                    "take the same sum through faster forms below this line, equal to it within float rounding, as "
                    "`tests/test_objective.py` checks)")
        st.html(_code([_block(f"{listing.path} · {listing.name}", lines, listing.first + first, lit(lines))
                       for listing, first, lines in summed_excerpts()], wrap=True))
    with theirs:
        st.markdown("**Averaged**, as much VAE code writes it")
        lines = AVERAGED.split("\n")
        st.html(_code([_block("a typical training step", lines, None, lit(lines))], wrap=True))
    st.caption("Only the reconstruction's reduction differs: a sum over an image's pixels, or a mean over them. "
               "`combine` keeps the averaged form as an option (`recon_reduction=\"mean\"`, its divisor) to train "
               "the model that shows the mistake above.")


def _code(blocks, above: str = "", css: str = "", wrap: bool = False) -> str:
    """The blocks in one scrolling box, what goes above it, and the style; wrap: long lines wrap (half a page)."""
    return (f"<style>{_CSS}{css}</style><div class='vae-src{' wrap' * wrap}'>{above}<div class='code'>"
            f"{''.join(blocks)}</div></div>")


def _block(title: str, lines, first: int | None, marks: dict[int, tuple[str, ...]],
           anchors: dict[int, tuple[str, ...]] | None = None) -> str:
    """One piece of code as HTML: a title, then a line per row with its number in the file (first: that of
    lines[0]; None, no numbers), the classes t-<key> of the terms marks names, and the anchors (ids) anchors names."""
    rows = []
    for i, line in enumerate(_coloured(lines)):
        classes = " ".join(["line"] + [f"t-{key}" for key in marks.get(i, ())])
        anchor = "".join(f'<span class="anchor" id="{name}"></span>' for name in (anchors or {}).get(i, ()))
        number = f"<span class='no'>{first + i}</span>" if first is not None else ""
        rows.append(f'<span class="{classes}">{anchor}{number}{line}</span>')
    return f"<div class='fn'><div class='where'>{html.escape(title)}</div><pre>{''.join(rows)}</pre></div>"


_KINDS = {tokenize.COMMENT: "cm", tokenize.STRING: "st", tokenize.NUMBER: "nu"}  # token type -> CSS class


def _coloured(lines) -> list[str]:
    """Each line as HTML with its comments, strings, numbers and keywords in classes, read by Python's tokenizer."""
    kinds = [[""] * len(line) for line in lines]
    try:
        for token in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline):
            kind = _KINDS.get(token.type) or ("kw" if keyword.iskeyword(token.string) else "")
            if not kind:
                continue
            (row, col), (end_row, end_col) = token.start, token.end  # rows from 1; a docstring spans several
            for r in range(row - 1, min(end_row, len(lines))):
                for c in range(col if r == row - 1 else 0, end_col if r == end_row - 1 else len(lines[r])):
                    kinds[r][c] = kind
    except (tokenize.TokenError, IndentationError):  # an excerpt may end inside brackets: colour what was read
        pass
    out = []
    for line, kind in zip(lines, kinds):
        pieces, start = [], 0
        for c in range(1, len(line) + 1):
            if c == len(line) or kind[c] != kind[start]:
                text = html.escape(line[start:c])
                pieces.append(f"<span class='{kind[start]}'>{text}</span>" if kind[start] else text)
                start = c
        out.append("".join(pieces))
    return out


def _term_css(terms) -> str:
    """A term's lines light up in its colour while its link is hovered or after it was clicked (its anchor is the
    target); a line lights its terms' links."""
    rules = []
    for t in terms:
        lines = (f".vae-src:has(.term-{t.key}:hover) .t-{t.key}, .vae-src:has(#{ANCHOR}{t.key}:target) .t-{t.key}")
        rules.append(f"{lines} {{ background: {t.colour}2e; box-shadow: inset 4px 0 {t.colour}; }}"
                     f".vae-src .term-{t.key} {{ border-color: {t.colour}; }}"
                     f".vae-src .term-{t.key}:hover, .vae-src:has(.t-{t.key}:hover) .term-{t.key}, "
                     f".vae-src:has(#{ANCHOR}{t.key}:target) .term-{t.key} {{ background: {t.colour}2e; }}")
    return "".join(rules)


_CSS = """
.vae-src .terms { display: flex; flex-wrap: wrap; gap: .4rem; padding: .4rem 0; position: sticky; top: 3.75rem;
  z-index: 1; background: #fff; }
.vae-src .term { border: 1px solid; border-left-width: 4px; border-radius: .3rem; padding: .1rem .5rem;
  color: inherit; text-decoration: none; font-size: .95rem; }
.vae-src .code { max-height: 34rem; overflow: auto; border-radius: .5rem; background: #f6f7f9; }
.vae-src .fn { padding: .4rem 0; }
.vae-src .where { font: .8rem sans-serif; color: #6b7280; padding: 0 .8rem .2rem; }
.vae-src pre { margin: 0; padding: 0; background: none; font-size: .8rem; line-height: 1.45; overflow: visible; }
.vae-src .line { display: block; min-height: 1.45em; padding: 0 .8rem; white-space: pre; }
.vae-src .anchor { scroll-margin-top: 9rem; }  /* below Streamlit's header and the terms, which stick there */
.vae-src.wrap .line { white-space: pre-wrap; overflow-wrap: anywhere; padding-left: 3.4rem; text-indent: -2.6rem; }
/* wrapped under the code; anywhere: a run of code with no space (a chain of calls) ran past the box's edge */
.vae-src.wrap .no { text-indent: 0; }
.vae-src .no { display: inline-block; width: 2.6rem; color: #9ca3af; user-select: none; }
.vae-src .t-loss { background: #ff7f0e2e; box-shadow: inset 4px 0 #ff7f0e; }
.vae-src .kw { color: #7c3aed; } .vae-src .st { color: #15803d; } .vae-src .cm { color: #6b7280; font-style: italic; }
.vae-src .nu { color: #b45309; }
"""
