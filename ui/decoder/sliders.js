// Latent sliders decoded in the browser: one range input per listed dimension (the first few shown, the rest
// folded away), the decoded digit redrawn on every animation frame while a slider moves, and the traversal
// strip (each listed row sweeps one dimension over the given values) redrawn as often as it can keep up.
// Nothing reaches Python until a slider is let go. decoder.js is prepended.

const instances = new WeakMap();  // parentElement -> Sliders
const STRIP_EVERY_MS = 80;        // a new pass over the strip starts at most this often while dragging,
const STRIP_BUDGET_MS = 6;        // and spends at most this long per frame, so the digit's frames stay smooth
const SHIFT_STEP = 0.25;          // Shift + an arrow key moves a slider this far

export default function (component) {
  return mountOnce(component, instances, parent => new Sliders(parent));
}

class Sliders {
  constructor(parent) {
    this.z = [];
    this.frameRequested = false;
    this.dirty = false;
    this.stripStarted = 0;
    this.since = null;  // timeStamp of the oldest input not yet drawn
    this.released = [];  // the points sent to Python lately, as strings
    this.resetStats();
    this.root = element("div", "latent-sliders", parent);
    const top = element("div", "top", this.root);
    this.controls = element("div", "controls", top);
    const figure = element("figure", "digit", top);
    this.image = new TileCanvas(figure, "image");
    this.readout = element("figcaption", "", figure);
    this.stripBox = element("figure", "strip", this.root);
    this.stripCaption = element("figcaption", "", this.stripBox);
    this.strip = new TileCanvas(this.stripBox, "tiles");
    const save = element("button", "save", this.stripBox);
    save.textContent = "PNG";
    save.title = "Save the traversals as a PNG file";
    save.addEventListener("click", () => downloadPng(this.strip.canvas, "traversals.png"));
    this.status = element("div", "status", this.root);
  }

  destroy() {
    this.destroyed = true;
    this.root.remove();
  }

  update(data, component) {
    this.component = component;
    this.key = data.key;
    vaeLab.components[data.key] = this;
    const layout = JSON.stringify([data.order, data.shown, data.traversal, data.z.length]);
    // Python moved the point on purpose (a reset, a test image, the prior), not an echo of one we sent
    const fromPython = String(data.z) !== String(this.dataZ) && !this.released.includes(String(data.z));
    let moved = false;  // a rerun that only echoes the released point redraws nothing
    if (layout !== this.layout) {
      const kept = this.z.length === data.z.length && !fromPython;  // the same latent: the user's point stays
      this.layout = layout;
      Object.assign(this, { order: data.order, shown: data.shown, traversal: data.traversal, extent: data.extent });
      if (!kept) this.z = data.z.slice();
      this.stripDrawnAt = this.stripTile = undefined;  // a new strip, drawn whole
      this.build(data.folded);
      moved = true;
    } else if (!this.dragging && fromPython) {
      this.z = data.z.slice();
      moved = true;
    }
    this.dataZ = data.z.slice();
    if (data.decoder !== this.decoderUrl) {
      this.decoderUrl = data.decoder;
      this.decoder = null;
      this.decoderPromise = loadDecoder(data.decoder);
      this.status.textContent = "Loading the decoder's weights…";
      this.decoderPromise.then(decoder => {
        if (this.decoderUrl !== data.decoder) return;
        this.decoder = decoder;
        this.image.layout(decoder, 1, 1, 0, data.imageWidth);
        this.strip.layout(decoder, this.traversal.dims.length * this.traversal.values.length,
                          this.traversal.values.length, 1, data.stripWidth);
        this.status.textContent = `Decoded in your browser from the model's weights ` +
          `(${(decoder.bytes / 1e6).toFixed(2)} MB of float32, fetched once per model).`;
        this.stripDrawnAt = undefined;
        this.changed(null, true);
      }, error => { this.status.textContent = `Could not load the decoder: ${error.message}`; });
    }
    if (moved) this.changed(null, true);
  }

  build(folded) {
    this.controls.replaceChildren();
    const row = d => {
      const label = element("label", "slider");
      element("span", "name", label).textContent = `z${d}`;
      const input = element("input", "", label);
      Object.assign(input, { type: "range", min: -this.extent, max: this.extent, step: 0.01, value: this.z[d] });
      input.setAttribute("aria-label", `z${d}`);
      const shown = element("span", "value", label);
      input.addEventListener("pointerdown", () => { this.dragging = true; });
      input.addEventListener("input", e => { this.z[d] = Number(input.value); this.changed(e.timeStamp); });
      input.addEventListener("keydown", e => {  // Shift + an arrow key: a big step (plain arrows step 0.01)
        const sign = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1 }[e.key];
        if (!e.shiftKey || !sign) return;
        e.preventDefault();
        const value = Math.max(-this.extent, Math.min(this.extent, Number(input.value) + sign * SHIFT_STEP));
        input.value = value.toFixed(2);
        input.dispatchEvent(new Event("input"));
        input.dispatchEvent(new Event("change"));
      });
      input.addEventListener("change", () => {  // let go (or a key): the strip catches up now, a few tiles a frame
        this.dragging = false;
        this.stripStarted = -Infinity;
        this.changed(null);
        this.release();
      });
      return { d, input, shown, label };
    };
    this.rows = this.order.map(row);
    this.rows.slice(0, this.shown).forEach(r => this.controls.appendChild(r.label));
    if (this.rows.length > this.shown) {
      const more = element("details", "more", this.controls);
      element("summary", "", more).textContent = `${this.rows.length - this.shown} more dimensions, less active`;
      this.rows.slice(this.shown).forEach(r => more.appendChild(r.label));
    }
    if (folded) {
      element("div", "folded", this.controls).textContent =
        `${folded} further dimensions, the least informative, have no slider: they keep their values.`;
    }
    const { dims, values } = this.traversal;
    this.stripCaption.textContent = `Traversals: each row sweeps one dimension from ${values[0]} to ` +
      `${values[values.length - 1]} with the others held at the sliders' values: ` +
      dims.map((d, r) => `row ${r + 1} z${d}`).join(", ") + ".";
  }

  // Only the point where the user lets go goes to Python: one rerun per gesture, none while dragging.
  release() {
    if (!this.component) return;
    push(this.released, String(this.z), 32);  // its echo in a later rerun is no move (keys may have gone on)
    sendRelease(this.component, this.z);
  }

  // Something moved: redraw the digit on the next frame, and the strip then too, whole, if `now`; else a pass starts
  // when one is due and draws a few tiles a frame.
  changed(timeStamp, now = false) {
    if (timeStamp !== null && this.since === null) this.since = timeStamp;
    this.dirty = this.stripWanted = true;
    this.stripNow = this.stripNow || now;
    this.request();
  }

  request() {
    if (this.frameRequested || this.destroyed) return;
    this.frameRequested = true;
    requestAnimationFrame(() => this.frame());
  }

  frame() {
    this.frameRequested = false;
    if (!this.decoder) return;
    if (this.dirty) this.drawDigit();
    const due = this.stripNow || performance.now() - this.stripStarted >= STRIP_EVERY_MS;
    if (this.stripWanted && this.stripTile === undefined && due) this.startStrip();
    if (this.stripTile !== undefined) this.continueStrip(this.stripNow);
    if (this.stripWanted || this.stripTile !== undefined) this.request();  // more to draw next frame
  }

  drawDigit() {
    this.dirty = false;
    this.image.tile(0, this.decoder.decode(this.z));
    this.image.show();
    this.readout.textContent = this.z.length <= 8 ? `z = (${this.z.map(v => v.toFixed(2)).join(", ")})`
      : `${this.z.length} dimensions`;
    this.rows.forEach(({ d, input, shown }) => {
      if (Number(input.value) !== this.z[d]) input.value = this.z[d];
      shown.textContent = this.z[d].toFixed(2);
    });
    this.stats.frames += 1;
    this.lastDrawn = performance.now();  // for the benchmarks: when the latest digit was drawn,
    if (this.firstDrawn === undefined) this.firstDrawn = this.lastDrawn;  // and the first since the page opened
    if (this.since !== null) {
      push(this.stats.toDrawn, performance.now() - this.since);
      this.since = null;
    }
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

  resetStats() {
    this.stats = { frames: 0, toDrawn: [] };
  }
}
