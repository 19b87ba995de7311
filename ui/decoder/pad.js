// The latent pad: a handle dragged over two latent dimensions and sliders for the most informative ones,
// decoded in the browser on every animation frame (view.js loads the decoder and runs the frames).

import { byClass, element, fillLegend, mountOnce } from "./base.js";
import { fetchOnce } from "./decoder.js";
import { DecodingView, TileCanvas } from "./view.js";

const backgrounds = new Map();  // background URL -> Promise<{points, labels}>
const pads = new WeakMap();     // parentElement -> Pad: Streamlit calls the default export again on new data
const PAD_SIZE = 360;           // CSS pixels of the square pad
const IMAGE_SIZE = 280;         // CSS pixels of the decoded image
const BORDER = 1;               // CSS pixels of the pad's border (decoder.css)
const TICK_EVERY = 1;           // a tick and its value at every whole latent value

export default function (component) {
  return mountOnce(component, pads, parent => new Pad(parent));
}

function loadBackground(url, count) {
  return fetchOnce(backgrounds, url, buffer => ({ points: new Float32Array(buffer, 0, 2 * count),  // (x, y) pairs,
                                                  labels: new Uint8Array(buffer, 8 * count, count) }),  // a label each
                   "background");
}

class Pad extends DecodingView {
  constructor(parent) {
    const root = element("div", "latent-pad", parent);
    super(root);
    this.dims = [0, 1];
    this.extent = 4;
    const frame = element("div", "pad-frame", root);  // the pad, its ticks' values and its axes' names
    this.yName = element("div", "y-name", frame);
    this.yTicks = element("div", "y-ticks", frame);
    this.padCanvas = element("canvas", "pad", frame);
    this.xTicks = element("div", "x-ticks", frame);
    this.xName = element("div", "x-name", frame);
    const figure = element("div", "figure", root);
    this.image = new TileCanvas(figure, "image", root);
    this.readout = element("div", "readout", figure);
    this.sliderBox = element("div", "sliders", root);
    this.legend = element("div", "legend", root);
    this.status = element("div", "status", root);
    const ratio = window.devicePixelRatio || 1;
    this.padCanvas.width = this.padCanvas.height = Math.round(PAD_SIZE * ratio);
    this.padCanvas.style.width = this.padCanvas.style.height = `${PAD_SIZE}px`;
    this.image.canvas.style.width = this.image.canvas.style.height = `${IMAGE_SIZE}px`;  // until the decoder is here
    this.layer = document.createElement("canvas");  // the scatter, drawn once per background
    this.layer.width = this.padCanvas.width;
    this.layer.height = this.padCanvas.height;
    this.listen();
  }

  listen() {
    const canvas = this.padCanvas;
    canvas.addEventListener("pointerdown", e => {
      e.preventDefault();  // no text selection while dragging
      canvas.setPointerCapture(e.pointerId);  // keep the drag when the pointer leaves the pad
      this.dragging = true;
      this.moveTo(e);
    });
    canvas.addEventListener("pointermove", e => { if (this.dragging) this.moveTo(e); });
    const end = e => {
      if (!this.dragging) return;
      this.dragging = false;
      this.moveTo(e);
      this.release();
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
  }

  moveTo(e) {
    const canvas = this.padCanvas, box = canvas.getBoundingClientRect(), E = this.extent;
    const clamp = v => Math.max(-E, Math.min(E, v));
    const x = (e.clientX - box.left - canvas.clientLeft) / canvas.clientWidth;  // inside the border
    const y = (e.clientY - box.top - canvas.clientTop) / canvas.clientHeight;
    this.z[this.dims[0]] = clamp((x * 2 - 1) * E);
    this.z[this.dims[1]] = clamp((1 - y * 2) * E);
    this.changed(e.timeStamp);
  }

  frame(start) {
    if (!this.dirty) return;
    this.drawPad();  // the handle follows even before the weights arrive
    if (!this.decoder) return;
    this.dirty = false;
    this.image.tile(0, this.decoder.decode(this.z));
    this.image.show();
    this.showValues();
    this.drawn(start);
  }

  decoderReady(decoder) {
    this.image.layout(decoder, 1, 1, 0, IMAGE_SIZE);
  }

  update(data, component) {
    super.update(data, component);
    this.extent = data.extent;
    this.palette = data.palette;
    const dimsChanged = String(data.dims) !== String(this.dims) || data.z.length !== this.z.length
      || String(data.order) !== String(this.order);
    this.dims = data.dims;
    this.order = data.order;
    if (dimsChanged || this.takes(data)) this.z = data.z.slice();  // see DecodingView.takes
    this.dataZ = data.z.slice();
    if (dimsChanged) this.buildSliders();
    this.placeTicks();
    const background = data.background ? data.background.url : null;
    if (background !== this.backgroundUrl || dimsChanged) {
      this.backgroundUrl = background;
      this.drawLayer(null, data);
      if (data.background) {
        loadBackground(background, data.background.count).then(scatter => {
          if (this.backgroundUrl === background) { this.drawLayer(scatter, data); this.changed(null); }
        }, error => this.say(`Could not load the background: ${error.message}`));
      }
    }
    this.changed(null);
  }

  // One slider per dimension Python lists in order (most informative first; a wide model's tail has none).
  buildSliders() {
    const order = this.order && this.order.length ? this.order : this.z.map((_, d) => d);
    const axis = d => d === this.dims[0] ? " ↔" : d === this.dims[1] ? " ↕" : "";
    this.sliderBox.replaceChildren(...this.buildRows(order, axis).map(row => row.label));
    if (order.length < this.z.length) {
      element("div", "folded", this.sliderBox).textContent =
        `${this.z.length - order.length} less informative dimensions have no slider: they keep their values.`;
    }
  }

  // The values of the ticks drawLayer draws, beside the pad's left and bottom edges, and the axes' names.
  placeTicks() {
    const values = [];
    for (let v = -Math.floor(this.extent / TICK_EVERY) * TICK_EVERY; v <= this.extent; v += TICK_EVERY) values.push(v);
    const place = (box, vertical) => box.replaceChildren(...values.map(v => {
      const label = element("span", "axis-label");
      label.textContent = String(v);
      label.style[vertical ? "top" : "left"] = `${BORDER + this.toPixel(v, vertical) / this.padCanvas.width * PAD_SIZE}px`;
      return label;
    }));
    place(this.xTicks, false);
    place(this.yTicks, true);
    this.xName.textContent = `z${this.dims[0]} →`;
    this.yName.textContent = `z${this.dims[1]} →`;
  }

  summary() {
    const [x, y] = this.dims;
    return `z${x} = ${this.z[x].toFixed(2)}, z${y} = ${this.z[y].toFixed(2)} (of ${this.z.length} dimensions)`;
  }

  toPixel(value, vertical) {
    const size = this.padCanvas.width, t = (value + this.extent) / (2 * this.extent);
    return vertical ? (1 - t) * size : t * size;
  }

  drawLayer(scatter, data) {
    const ctx = this.layer.getContext("2d"), size = this.layer.width;
    const style = getComputedStyle(this.root);
    ctx.fillStyle = style.getPropertyValue("--st-secondary-background-color").trim() || "#f0f2f6";
    ctx.fillRect(0, 0, size, size);
    ctx.strokeStyle = style.getPropertyValue("--st-border-color").trim() || "#ccc";
    ctx.lineWidth = 1;
    ctx.beginPath();  // the axes through z = 0
    ctx.moveTo(this.toPixel(0, false), 0); ctx.lineTo(this.toPixel(0, false), size);
    ctx.moveTo(0, this.toPixel(0, true)); ctx.lineTo(size, this.toPixel(0, true));
    const tick = size / 60;  // ticks on the left and bottom edges, whose values placeTicks writes beside them
    for (let v = -Math.floor(this.extent / TICK_EVERY) * TICK_EVERY; v <= this.extent; v += TICK_EVERY) {
      ctx.moveTo(this.toPixel(v, false), size); ctx.lineTo(this.toPixel(v, false), size - tick);
      ctx.moveTo(0, this.toPixel(v, true)); ctx.lineTo(tick, this.toPixel(v, true));
    }
    ctx.stroke();
    this.legend.replaceChildren();
    if (!scatter) return;
    const dot = Math.max(2, Math.round(size / 200)), palette = this.palette;
    ctx.globalAlpha = 0.55;
    for (const i of byClass(scatter.labels)) {
      ctx.fillStyle = palette[scatter.labels[i] % palette.length];
      ctx.fillRect(this.toPixel(scatter.points[2 * i], false) - dot / 2,
                   this.toPixel(scatter.points[2 * i + 1], true) - dot / 2, dot, dot);
    }
    ctx.globalAlpha = 1;
    fillLegend(this.legend, data.classes, palette);
  }

  drawPad() {
    const ctx = this.padCanvas.getContext("2d"), ratio = this.padCanvas.width / PAD_SIZE;
    ctx.drawImage(this.layer, 0, 0);
    const x = this.toPixel(this.z[this.dims[0]], false), y = this.toPixel(this.z[this.dims[1]], true);
    ctx.beginPath();
    ctx.arc(x, y, 8 * ratio, 0, 2 * Math.PI);
    ctx.fillStyle = "rgba(255, 255, 255, 0.85)";
    ctx.fill();
    ctx.lineWidth = 2.5 * ratio;
    ctx.strokeStyle = "#262730";
    ctx.stroke();
  }
}
