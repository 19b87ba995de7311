// Latent sliders decoded in the browser: one range input per listed dimension (the first few shown, the rest
// folded away), the decoded digit redrawn on every animation frame while a slider moves, and the traversal
// strip (each listed row sweeps one dimension over the given values) redrawn as often as it can keep up.
// Nothing reaches Python until a slider is let go. view.js loads the decoder and runs the frames.

import { element, mountOnce } from "./base.js";
import { DecodingView, TileCanvas } from "./view.js";

const instances = new WeakMap();  // parentElement -> Sliders
const STRIP_EVERY_MS = 80;        // a new pass over the strip starts at most this often while dragging,
const STRIP_BUDGET_MS = 6;        // and spends at most this long per frame, so the digit's frames stay smooth

export default function (component) {
  return mountOnce(component, instances, parent => new Sliders(parent));
}

class Sliders extends DecodingView {
  constructor(parent) {
    const root = element("div", "latent-sliders", parent);
    super(root);
    this.stripStarted = 0;
    const top = element("div", "top", root);
    this.controls = element("div", "controls", top);
    const figure = element("figure", "digit", top);
    this.image = new TileCanvas(figure, "image", root);
    this.readout = element("figcaption", "", figure);
    this.stripBox = element("figure", "strip", root);
    this.stripCaption = element("figcaption", "", this.stripBox);
    const labelled = element("div", "labelled", this.stripBox);  // each row's dimension, each column's value
    this.rowLabels = element("div", "row-labels", labelled);
    this.columnLabels = element("div", "column-labels", labelled);
    this.strip = new TileCanvas(labelled, "tiles", root);
    this.save = element("button", "save", this.stripBox);
    this.save.textContent = "PNG";
    this.save.title = "Save the traversals as a PNG file, labelled";
    this.save.addEventListener("click", () => this.strip.save("traversals.png", this.stripLabels()));
    this.status = element("div", "status", root);
  }

  update(data, component) {
    super.update(data, component);
    Object.assign(this, { imageWidth: data.imageWidth, stripWidth: data.stripWidth });
    const layout = JSON.stringify([data.order, data.shown, data.traversal, data.z.length]);
    // Python's point: a reset, a test image, the prior, or the echo of our own releases once all have arrived
    const moved = this.z.length !== data.z.length || (this.takes(data) && String(data.z) !== String(this.z));
    if (moved) this.z = data.z.slice();
    if (layout !== this.layout) {
      this.layout = layout;
      Object.assign(this, { order: data.order, shown: data.shown, traversal: data.traversal, extent: data.extent });
      this.stripDrawnAt = this.stripTile = undefined;  // a new strip, drawn whole
      this.build(data.folded);
      if (this.decoder) this.layoutCanvases();
      this.changed(null, true);
    } else if (moved) {
      this.changed(null, true);
    }  // a rerun that only echoes the released point redraws nothing
    this.dataZ = data.z.slice();
  }

  decoderReady() {
    this.layoutCanvases();
    this.stripDrawnAt = undefined;
    this.stripNow = true;
  }

  layoutCanvases() {
    const { dims, values } = this.traversal;
    this.image.layout(this.decoder, 1, 1, 0, this.imageWidth);
    // its row labels stand beside it: at 800 px the strip took the whole box, and its last column went past it
    const beside = this.rowLabels.offsetWidth + parseFloat(getComputedStyle(this.rowLabels).marginRight || 0);
    this.strip.layout(this.decoder, dims.length * values.length, values.length, 1, this.stripWidth, beside);
    this.strip.placeLabels(this.rowLabels, this.columnLabels, this.stripLabels());
  }

  stripLabels() {
    const { dims, values } = this.traversal;
    return { rows: dims.map(d => `z${d}`), columns: values.map(v => String(Number(v.toFixed(2)))) };
  }

  build(folded) {
    this.controls.replaceChildren();
    const rows = this.buildRows(this.order);
    rows.slice(0, this.shown).forEach(r => this.controls.appendChild(r.label));
    if (rows.length > this.shown) {
      const more = element("details", "more", this.controls);
      element("summary", "", more).textContent = `${rows.length - this.shown} more dimensions, with less test KL`;
      rows.slice(this.shown).forEach(r => more.appendChild(r.label));
    }
    if (folded) {
      element("div", "folded", this.controls).textContent =
        `${folded} further dimensions, the least informative, have no slider: they keep their values.`;
    }
    this.stripCaption.textContent = "Traversals: each row sweeps the dimension named on its left over the values " +
      "above the columns, the others held at the sliders' values.";
  }

  // Let go (or a key): the strip catches up now, a few tiles a frame, and the point goes to Python.
  release() {
    this.stripStarted = -Infinity;
    this.changed(null);
    super.release();
  }

  // Something moved: redraw the digit on the next frame, and the strip then too, whole, if `now`; else a pass starts
  // when one is due and draws a few tiles a frame.
  changed(timeStamp, now = false) {
    this.stripWanted = true;
    this.stripNow = this.stripNow || now;
    super.changed(timeStamp);
  }

  frame(start) {
    if (!this.decoder) return;
    if (this.dirty) this.drawDigit(start);
    const due = this.stripNow || performance.now() - this.stripStarted >= STRIP_EVERY_MS;
    if (this.stripWanted && this.stripTile === undefined && due) this.startStrip();
    if (this.stripTile !== undefined) this.continueStrip(this.stripNow);
    if (this.stripWanted || this.stripTile !== undefined) this.request();  // more to draw next frame
  }

  drawDigit(start) {
    this.dirty = false;
    this.image.tile(0, this.decoder.decode(this.z));
    this.image.show();
    this.showValues();
    this.drawn(start);
  }

  // A pass over the strip decodes the point as it was when the pass began, a few tiles per frame. A row sweeps
  // its own dimension, so it is redrawn only where the point moved in another one: dragging z0 leaves z0's row.
  startStrip() {
    const previous = this.stripDrawnAt;
    this.stripPoint = Float32Array.from(this.z);
    this.stripRows = this.traversal.dims.map(d => previous === undefined
      || this.stripPoint.some((v, i) => i !== d && v !== previous[i]));
    this.stripTile = 0;
    this.stripStarted = performance.now();
    this.stripWanted = false;
  }

  continueStrip(all) {
    const { dims, values } = this.traversal, point = this.stripPoint, start = performance.now();
    const tiles = dims.length * values.length;
    while (this.stripTile < tiles && (all || performance.now() - start < STRIP_BUDGET_MS)) {
      const row = Math.floor(this.stripTile / values.length), d = dims[row];
      if (!this.stripRows[row]) {
        this.stripTile += values.length;
        continue;
      }
      const kept = point[d];
      point[d] = values[this.stripTile % values.length];
      this.strip.tile(this.stripTile, this.decoder.decode(point));
      point[d] = kept;
      this.stripTile += 1;
    }
    this.strip.show();
    if (this.stripTile >= tiles) {
      this.stripTile = undefined;
      this.stripDrawnAt = point;  // what every row now shows
    }
    if (all) this.stripNow = false;
  }
}
