// The base of every view that decodes live in the browser (the latent pad, the latent sliders, decoded grids): it
// loads the decoder for a URL and says so, redraws on animation frames (one a frame at most), builds the slider rows
// and the z readout, counts frames for the benchmarks, and decodes for the tests. A subclass draws in frame().
// Also the tiled canvas the views draw decoded pictures on.

import { downloadPng, element, push, sendRelease, watchWidth } from "./base.js";
import { loadDecoder } from "./decoder.js";

const SHIFT_STEP = 0.25;  // Shift + an arrow key moves a slider this far (plain arrows step 0.01)
const READOUT_MOST = 8;   // the readout spells z out up to this many dimensions
// A saved picture is at least this many pixels wide: a slide shows it large and sharp (at 512 an interpolation
// strip of ten MNIST digits came out 582 x 60, too small to project)
const SAVED_WIDTH = 1024;
const FILL = 0.75;        // a tile canvas at a whole multiple fills at least this share of its room (TileCanvas)

export class DecodingView {
  // root: the view's element, already placed. A view with a status line sets this.status: the decoder's loading is
  // told there.
  constructor(root) {
    this.root = root;
    this.status = null;
    this.z = [];
    this.rows = [];            // the slider rows: {d, input, shown, label}
    this.dirty = false;        // the picture is behind this.z
    this.dragging = false;
    this.sent = null;          // the number of the last point this view released (base.js's sendRelease)
    this.frameRequested = false;
    this.since = null;         // timeStamp of the oldest input not yet drawn
    this.shown = null;         // that input's timestamp once drawn, until the next frame begins
    this.resetStats();
    this.resized = watchWidth(root, () => this.changed(null));  // redrawn to a new width
  }

  update(data, component) {
    this.component = component;
    this.useDecoder(data.decoder);
  }

  destroy() {
    this.destroyed = true;
    this.resized.disconnect();
    this.root.remove();
  }

  // ---- the decoder ----

  // Load the decoder at url unless it is the one in use; decoderReady(decoder) runs once it is here, then a redraw.
  useDecoder(url) {
    if (url === this.decoderUrl) return;
    this.decoderUrl = url;
    this.decoder = null;
    this.decoderPromise = loadDecoder(url);
    this.say("Loading the decoder's weights…");
    this.decoderPromise.then(decoder => {
      if (this.decoderUrl !== url) return;  // a newer model meanwhile
      this.decoder = decoder;
      this.decoderReady(decoder);
      this.say(`Decoded in your browser from the model's weights ` +
               `(${(decoder.bytes / 1e6).toFixed(2)} MB of float32, fetched once per model).`);
      this.changed(null);
    }, error => {
      if (this.decoderUrl !== url) return;
      this.decoderUrl = null;  // the next rerun tries again
      this.failed(`Could not load the decoder: ${error.message}`);
    });
  }

  decoderReady(decoder) {}

  say(text) {
    if (this.status) this.status.textContent = text;
  }

  failed(text) {
    this.say(text);
  }

  // For the tests and benchmarks: the float decodes of zs, before a canvas rounds them to 8 bits.
  async decode(zs) {
    const decoder = await this.decoderPromise;
    return zs.map(z => Array.from(decoder.decode(z)));
  }

  // ---- the frame loop ----

  // Something moved: redraw on the next animation frame. timeStamp is the input event's (null when Python or a
  // load moved it), for the latency counters.
  changed(timeStamp) {
    if (timeStamp !== null && this.since === null) this.since = timeStamp;
    this.dirty = true;
    this.request();
  }

  request() {
    if (this.frameRequested || this.destroyed) return;
    this.frameRequested = true;
    requestAnimationFrame(() => this.tick());
  }

  // One frame() per animation frame at most, however many inputs arrived since the last one.
  tick() {
    this.frameRequested = false;
    const start = performance.now();
    if (this.shown !== null) {  // the last drawn frame is on screen now that a new frame has begun
      push(this.stats.toNextFrame, start - this.shown);
      this.shown = null;
    }
    this.frame(start);
    if (this.shown !== null) this.request();  // to time when it reaches the screen
  }

  // The subclass's drawing; it calls drawn(start) once it has decoded and drawn the point.
  frame(start) {}

  drawn(start) {
    const done = performance.now();
    this.stats.frames += 1;
    push(this.stats.decodeMs, done - start);
    this.lastDrawn = done;  // for the benchmarks: when the latest picture was drawn,
    if (this.firstDrawn === undefined) this.firstDrawn = done;  // and the first since the page opened
    if (this.since !== null) {
      push(this.stats.toDrawn, done - this.since);
      this.shown = this.since;
      this.since = null;
    }
  }

  resetStats() {
    this.stats = { frames: 0, decodeMs: [], toDrawn: [], toNextFrame: [] };
  }

  // ---- sliders and readout ----

  // this.rows: a row per dimension in dims (its name zN with mark(d) after it, a range input over +-this.extent,
  // its value), for the caller to place. Moving one redraws; letting go (or a key) releases the point.
  buildRows(dims, mark = () => "") {
    this.rows = dims.map(d => {
      const label = element("label", "slider");
      element("span", "name", label).textContent = `z${d}${mark(d)}`;
      const input = element("input", "", label);
      Object.assign(input, { type: "range", min: -this.extent, max: this.extent, step: 0.01, value: this.z[d] });
      input.setAttribute("aria-label", `z${d}`);
      const shown = element("span", "value", label);
      input.addEventListener("pointerdown", () => { this.dragging = true; });
      input.addEventListener("input", e => { this.z[d] = Number(input.value); this.changed(e.timeStamp); });
      input.addEventListener("keydown", e => {  // Shift + an arrow key: a big step
        const sign = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1 }[e.key];
        if (!e.shiftKey || !sign) return;
        e.preventDefault();
        const value = Math.max(-this.extent, Math.min(this.extent, Number(input.value) + sign * SHIFT_STEP));
        input.value = value.toFixed(2);
        input.dispatchEvent(new Event("input"));
        input.dispatchEvent(new Event("change"));
      });
      input.addEventListener("change", () => {
        this.dragging = false;
        this.release();
      });
      return { d, input, shown, label };
    });
    return this.rows;
  }

  // The point in this.readout (spelled out for a few dimensions, else summary()) and on every slider.
  showValues() {
    this.readout.textContent = this.z.length <= READOUT_MOST
      ? `z = (${this.z.map(v => v.toFixed(2)).join(", ")})` : this.summary();
    for (const { d, input, shown } of this.rows) {
      if (Number(input.value) !== this.z[d]) input.value = this.z[d];
      shown.textContent = this.z[d].toFixed(2);
    }
  }

  summary() {
    return `${this.z.length} dimensions`;
  }

  // Only the point where the user lets go goes to Python: one rerun per gesture, none while dragging.
  release() {
    if (this.component) this.sent = sendRelease(this.component, this.z);
  }

  // Whether to show Python's point (data.z, the session's): not during a drag, nor while a point this view released
  // has yet to reach Python (data.seen is the last release it applied). Until then a rerun carries an older point:
  // taking it pulled the slider back under the keys (an echo told by its value was missed once older than the last
  // 32 releases, and the slider stayed behind the session's point).
  takes(data) {
    return !this.dragging && (this.sent === null || data.seen === this.sent);
  }
}

// A grid of decoded tiles as torchvision's make_grid lays it out: `padding` white pixels around and between tiles,
// never wider than box (the view's root; not the canvas's own parent: a figure that shrinks to its content
// measures the canvas itself, and the sliders' digit stayed at 28 px).
export class TileCanvas {
  constructor(parent, className, box) {
    this.canvas = element("canvas", className, parent);
    this.box = box;
  }

  // beside: pixels of the box that stand beside the picture (a strip's row labels), kept out of its room.
  layout(decoder, count, nrow, padding, displayWidth, beside = 0) {
    const rows = Math.ceil(count / nrow);
    const width = nrow * (decoder.width + padding) + padding, height = rows * (decoder.height + padding) + padding;
    if (!this.image || this.image.width !== width || this.image.height !== height) {
      this.image = new ImageData(width, height);  // the tiles at one pixel each (tile(), save())
      this.image.data.fill(255);  // the gaps are white
    }
    const room = Math.min(displayWidth, (this.box.clientWidth || displayWidth) - beside);
    const whole = Math.floor(room / width);
    // Whole multiples keep the pixel edges sharp. Where the largest one would fill less than FILL of the room
    // (MNIST's 8 to a row, 233 px, in a 410 px column: 1x, half the reconstructions beside it), the picture fills
    // the room: drawn at a whole multiple in the canvas and scaled down smoothly, its pixels stay even, their edges
    // soft by a device pixel. A picture wider than its box shrinks to fit it.
    const scale = room < width ? Math.max(0.25, room / width) : whole * width >= FILL * room ? whole : room / width;
    const factor = scale > 1 && !Number.isInteger(scale) ? Math.ceil(scale * (window.devicePixelRatio || 1)) : 1;
    if (this.canvas.width !== width * factor || this.canvas.height !== height * factor) {
      this.canvas.width = width * factor;
      this.canvas.height = height * factor;
    }
    this.canvas.style.imageRendering = factor > 1 ? "auto" : "";  // else the stylesheet's hard edges
    this.canvas.style.width = `${width * scale}px`;
    this.canvas.style.height = `${height * scale}px`;
    Object.assign(this, { decoder, nrow, padding, scale, factor });
  }

  // Where the centre of tile column (or row, if vertical) i lies, in the canvas's own pixels.
  centre(i, vertical = false) {
    const size = vertical ? this.decoder.height : this.decoder.width;
    return this.padding + i * (size + this.padding) + size / 2;
  }

  // Name the tile rows in rowBox and the columns in columnBox (labels: {rows, columns}, texts), each label centred
  // on its row or column as the canvas is shown; the boxes lie left of and above the canvas (decoder.css).
  placeLabels(rowBox, columnBox, labels) {
    const place = (box, texts, vertical) => box.replaceChildren(...texts.map((text, i) => {
      const label = element("span", "axis-label");
      label.textContent = text;
      label.style[vertical ? "top" : "left"] = `${this.centre(i, vertical) * this.scale}px`;
      return label;
    }));
    place(rowBox, labels.rows, true);
    place(columnBox, labels.columns, false);
  }

  // Save the picture as a PNG a slide can take: each pixel a square of whole pixels (hard edges), at least
  // SAVED_WIDTH wide (the canvas's own 73 or 262 pixels looked blurred or tiny there); labels ({rows, columns},
  // texts) are written left of the rows and above the columns.
  save(name, labels = null) {
    const { image } = this, scale = Math.ceil(SAVED_WIDTH / image.width);  // the tiles at one pixel each
    const out = document.createElement("canvas"), ctx = out.getContext("2d");
    const font = Math.max(12, Math.min(28, Math.round(0.3 * this.decoder.height * scale)));
    ctx.font = `${font}px sans-serif`;
    const left = labels ? Math.ceil(Math.max(...labels.rows.map(t => ctx.measureText(t).width))) + font : 0;
    const top = labels ? 2 * font : 0;
    out.width = left + image.width * scale;
    out.height = top + image.height * scale;
    const big = ctx.createImageData(image.width * scale, image.height * scale);
    for (let y = 0; y < big.height; y++) {
      const from = 4 * Math.floor(y / scale) * image.width;
      for (let x = 0; x < big.width; x++) {
        const i = from + 4 * Math.floor(x / scale), o = 4 * (y * big.width + x);
        for (let j = 0; j < 4; j++) big.data[o + j] = image.data[i + j];
      }
    }
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, out.width, out.height);
    ctx.putImageData(big, left, top);
    if (labels) {
      Object.assign(ctx, { font: `${font}px sans-serif`, fillStyle: "#31333f", textBaseline: "middle" });
      ctx.textAlign = "right";
      labels.rows.forEach((text, i) => ctx.fillText(text, left - font / 2, top + this.centre(i, true) * scale));
      ctx.textAlign = "center";
      labels.columns.forEach((text, i) => ctx.fillText(text, left + this.centre(i) * scale, top / 2));
    }
    downloadPng(out, name);
  }

  // Paint one decoded image (C, H, W) as tile `index`; show() puts the tiles on the canvas.
  tile(index, pixels) {
    const { decoder, nrow, padding } = this, { channels: c, height: h, width: w } = decoder, n = h * w;
    const left = padding + (index % nrow) * (w + padding), top = padding + Math.floor(index / nrow) * (h + padding);
    const rgba = this.image.data, stride = this.image.width;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const i = y * w + x, o = 4 * ((top + y) * stride + left + x);
        for (let j = 0; j < 3; j++) rgba[o + j] = 255 * pixels[(c === 3 ? j * n : 0) + i];  // clamps and rounds
        rgba[o + 3] = 255;
      }
    }
  }

  show() {
    const context = this.canvas.getContext("2d");
    if (this.factor === 1) {
      context.putImageData(this.image, 0, 0);  // CSS scales it up with hard pixel edges
      return;
    }
    this.small = this.small || document.createElement("canvas");
    Object.assign(this.small, { width: this.image.width, height: this.image.height });
    this.small.getContext("2d").putImageData(this.image, 0, 0);
    context.imageSmoothingEnabled = false;  // each pixel a square of factor x factor, then CSS scales it down
    context.drawImage(this.small, 0, 0, this.canvas.width, this.canvas.height);
  }
}
