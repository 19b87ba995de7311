"""Formulas that fit their column: a KaTeX display wider than its column is drawn smaller until it fits, down to
MOST_SHRINK of its size, instead of running past the column's edge (at 800 px the KL page hid the image's total and
Home the KL term, the figures lesson steps 1 and 7 ask about). One small component, drawn in the sidebar, watches the
page's formulas as they come and as their columns change width."""
import streamlit as st

MOST_SHRINK = 0.55  # a formula shrinks to at most this share of its size (a scrollbar takes over past it)

_fit = st.components.v2.component(
    "fit_formulas",
    js="""export default function ({ data }) {
  if (window.vaeLabFormulas) return;  // once per page: it watches every formula from then on
  const seen = new WeakSet();
  const fit = display => {
    const formula = display.querySelector(":scope > .katex");
    if (!formula) return;
    formula.style.fontSize = "";  // measured at its own size first
    let share = 1;  // (KaTeX's underbraces run 2 px past a formula whatever its size: no cause to shrink it)
    for (let pass = 0; pass < 3 && share > data.most && formula.scrollWidth > formula.clientWidth + 4; pass++) {
      share = Math.max(data.most, share * formula.clientWidth / formula.scrollWidth * 0.995);  // (glyphs round: again)
      formula.style.fontSize = `${share}em`;
    }
  };
  const sizes = new ResizeObserver(entries => entries.forEach(entry => fit(entry.target)));
  const displays = node => node.nodeType !== 1 ? []
    : [...(node.matches(".katex-display") ? [node] : []), ...node.querySelectorAll(".katex-display")];
  const watch = mutations => {
    for (const mutation of mutations) {  // a formula redrawn by a rerun replaces its element: the old one let go
      for (const node of mutation.removedNodes) displays(node).forEach(display => sizes.unobserve(display));
    }
    document.querySelectorAll(".katex-display").forEach(display => {
      if (seen.has(display)) return;
      seen.add(display);
      sizes.observe(display);
    });
  };
  window.vaeLabFormulas = new MutationObserver(watch);
  window.vaeLabFormulas.observe(document.body, { childList: true, subtree: true });
  watch([]);
}""")


def fit_formulas() -> None:
    """Draw the (invisible) component that fits the page's formulas to their columns; app.py calls it every run."""
    with st.sidebar:
        _fit(key="fit_formulas", data={"most": MOST_SHRINK})
