"""Formulas that fit their column: a KaTeX display wider than its column is drawn smaller until it fits, down to
MOST_SHRINK of its size, instead of running past the column's edge (at 800 px the KL page hid the image's total and
Home the KL term, the figures lesson steps 1 and 7 ask about). One small component, drawn in the sidebar, checks the
page's formulas as they come and as their columns change width."""
import streamlit as st

MOST_SHRINK = 0.55  # a formula shrinks to at most this share of its size (a scrollbar takes over past it)

_fit = st.components.v2.component(
    "fit_formulas",
    js="""export default function ({ data }) {
  if (window.vaeLabFormulas) return;  // once per page: it watches every formula from then on
  const fitted = new WeakMap();  // display -> what it was fitted for: its width, its text, the fonts' state
  const fit = display => {
    const formula = display.querySelector(":scope > .katex");
    const key = `${display.clientWidth}|${display.textContent}|${document.fonts.status}`;
    if (!formula || fitted.get(display) === key) return;
    fitted.set(display, key);
    formula.style.fontSize = "";  // measured at its own size first
    let share = 1;  // (KaTeX's underbraces run 2 px past a formula whatever its size: no cause to shrink it)
    for (let pass = 0; pass < 3 && share > data.most && formula.scrollWidth > formula.clientWidth + 4; pass++) {
      share = Math.max(data.most, share * formula.clientWidth / formula.scrollWidth * 0.995);  // (glyphs round: again)
      formula.style.fontSize = `${share}em`;
    }
  };
  // Checked twice a second, not on events alone: a formula redrawn in place, a column narrowed by the sidebar, or
  // KaTeX's fonts arriving after the first measure change what fits without resizing the formula's own box (a
  // formula measured before its fonts came was left running past its column)
  const fitAll = () => document.querySelectorAll(".katex-display").forEach(fit);
  window.vaeLabFormulas = setInterval(fitAll, 500);
  window.addEventListener("resize", fitAll);
  fitAll();
}""")


def fit_formulas() -> None:
    """Draw the (invisible) component that fits the page's formulas to their columns, in the sidebar, out of the
    page's way; app.py calls it every run."""
    with st.sidebar:
        _fit(key="fit_formulas", data={"most": MOST_SHRINK})
