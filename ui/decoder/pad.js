// The latent pad: a handle dragged over two latent dimensions and sliders for the most informative ones,
// decoded in the browser on every animation frame (decoder.js, prepended to this module, decodes).
// A plain ES module that Streamlit's components v2 imports as is: no build step, no dependencies.

const backgrounds = new Map();  // background URL -> Promise<{points, labels}>
const pads = new WeakMap();     // parentElement -> Pad: Streamlit calls the default export again on new data
const PAD_SIZE = 360;           // CSS pixels of the square pad
const IMAGE_SIZE = 280;         // CSS pixels of the decoded image

export default function (component) {
  return mountOnce(component, pads, parent => new Pad(parent));
}

function loadBackground(url, count) {
  return fetchOnce(backgrounds, url, buffer => ({ points: new Float32Array(buffer, 0, 2 * count),  // (x, y) pairs,
                                                  labels: new Uint8Array(buffer, 8 * count, count) }),  // a label each
                   "background");
}

// ---- one pad on the page ----

class Pad {
  constructor(parent) {
    this.z = [];
    this.dims = [0, 1];
    this.extent = 4;
    this.dragging = false;
    this.dirty = false;
    this.frameRequested = false;
    this.since = null;        // timeStamp of the oldest input not yet drawn
    this.shown = null;        // that input's timestamp once drawn, until the next frame begins
    this.resetStats();
    this.root = element("div", "latent-pad");
    this.padCanvas = element("canvas", "pad", this.root);
    const figure = element("div", "figure", this.root);
    this.image = element("canvas", "image", figure);
    this.readout = element("div", "readout", figure);
    this.sliderBox = element("div", "sliders", this.root);
    this.legend = element("div", "legend", this.root);
    this.status = element("div", "status", this.root);
    this.sizeCanvases();
    this.layer = document.createElement("canvas");  // the scatter, drawn once per background
    this.layer.width = this.padCanvas.width;
    this.layer.height = this.padCanvas.height;
    parent.appendChild(this.root);
    this.listen();
    window.latentPad.current = this;
  }

  sizeCanvases() {
    const ratio = window.devicePixelRatio || 1;
    this.padCanvas.width = this.padCanvas.height = Math.round(PAD_SIZE * ratio);
    this.padCanvas.style.width = this.padCanvas.style.height = `${PAD_SIZE}px`;
    this.image.style.width = this.image.style.height = `${IMAGE_SIZE}px`;
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

  // Only the point where the user lets go goes to Python: one rerun per gesture, none while dragging.
  release() {
    if (this.component) sendRelease(this.component, this.z);
  }

  changed(timeStamp) {
    if (this.since === null) this.since = timeStamp;
    this.dirty = true;
    this.request();
  }

  request() {
    if (this.frameRequested || this.destroyed) return;
    this.frameRequested = true;
    requestAnimationFrame(() => this.frame());
  }

  // One decode per animation frame at most, however many pointer events arrived since the last one.
  frame() {
    this.frameRequested = false;
    const start = performance.now();
    if (this.shown !== null) {  // the last drawn frame is on screen now that a new frame has begun
      push(this.stats.toNextFrame, start - this.shown);
      this.shown = null;
    }
    if (this.dirty && this.decoder) {
      this.dirty = false;
      this.drawImage(this.decoder.decode(this.z));
      this.drawPad();
      this.showValues();
      const done = performance.now();
      this.stats.frames += 1;
      push(this.stats.decodeMs, done - start);
      if (this.since !== null) {
        push(this.stats.toDrawn, done - this.since);
        this.shown = this.since;
        this.since = null;
      }
    } else if (this.dirty) {
      this.drawPad();  // the handle follows even before the weights arrive
    }
    if (this.shown !== null || (this.dirty && this.decoder)) this.request();
  }

  update(data, component) {
    this.component = component;
    window.latentPad.current = this;
    this.extent = data.extent;
    const dimsChanged = String(data.dims) !== String(this.dims) || data.z.length !== this.z.length
      || String(data.order) !== String(this.order);
    this.dims = data.dims;
    this.order = data.order;
    // Python moves the point only on purpose (a reset, a test image); a drag in progress wins.
    if (dimsChanged || (!this.dragging && String(data.z) !== String(this.dataZ))) this.z = data.z.slice();
    this.dataZ = data.z.slice();
    if (dimsChanged) this.buildSliders();
    if (data.decoder !== this.decoderUrl) {
      this.decoderUrl = data.decoder;
      this.decoder = null;
      this.decoderPromise = loadDecoder(data.decoder);
      this.decoderPromise.then(decoder => {
        if (this.decoderUrl !== data.decoder) return;
        this.decoder = decoder;
        this.image.width = decoder.width;
        this.image.height = decoder.height;
        this.pixels = new ImageData(decoder.width, decoder.height);
        this.status.textContent = `Decoded in your browser from the model's weights ` +
          `(${(decoder.bytes / 1e6).toFixed(2)} MB of float32, fetched once per model).`;
        this.dirty = true;
        this.request();
      }, error => { this.status.textContent = `Could not load the decoder: ${error.message}`; });
      this.status.textContent = "Loading the decoder's weights…";
    }
    const background = data.background ? data.background.url : null;
    if (background !== this.backgroundUrl || dimsChanged) {
      this.backgroundUrl = background;
      this.drawLayer(null, data);
      if (data.background) {
        loadBackground(background, data.background.count).then(scatter => {
          if (this.backgroundUrl === background) { this.drawLayer(scatter, data); this.dirty = true; this.request(); }
        }, error => { this.status.textContent = `Could not load the background: ${error.message}`; });
      }
    }
    this.dirty = true;
    this.request();
  }

  // One slider per dimension Python lists in order (most informative first; a wide model's tail has none).
  buildSliders() {
    this.sliderBox.replaceChildren();
    const order = this.order && this.order.length ? this.order : this.z.map((_, d) => d);
    this.sliders = order.map(d => {
      const row = element("label", "slider", this.sliderBox);
      const axis = d === this.dims[0] ? " ↔" : d === this.dims[1] ? " ↕" : "";
      element("span", "name", row).textContent = `z${d}${axis}`;
      const input = element("input", "", row);
      Object.assign(input, { type: "range", min: -this.extent, max: this.extent, step: 0.01, value: this.z[d] });
      const shown = element("span", "value", row);
      input.addEventListener("input", e => { this.z[d] = Number(input.value); this.changed(e.timeStamp); });
      input.addEventListener("change", () => this.release());
      return { d, input, shown };
    });
    if (order.length < this.z.length) {
      element("div", "folded", this.sliderBox).textContent =
        `${this.z.length - order.length} less informative dimensions have no slider: they keep their values.`;
    }
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
    ctx.stroke();
    this.legend.replaceChildren();
    if (!scatter) return;
    const dot = Math.max(2, Math.round(size / 200));
    ctx.globalAlpha = 0.55;
    for (let i = 0; i < scatter.labels.length; i++) {
      ctx.fillStyle = PALETTE[scatter.labels[i] % PALETTE.length];
      ctx.fillRect(this.toPixel(scatter.points[2 * i], false) - dot / 2,
                   this.toPixel(scatter.points[2 * i + 1], true) - dot / 2, dot, dot);
    }
    ctx.globalAlpha = 1;
    (data.classes || []).forEach((name, i) => {
      const item = element("span", "item", this.legend);
      element("span", "swatch", item).style.background = PALETTE[i % PALETTE.length];
      item.append(name);
    });
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

  drawImage(pixels) {
    paintTile(this.pixels.data, this.image.width, 0, 0, pixels, this.decoder);
    this.image.getContext("2d").putImageData(this.pixels, 0, 0);  // CSS scales it up with hard pixel edges
  }

  showValues() {
    const [x, y] = this.dims;
    this.readout.textContent = this.z.length <= 8 ? `z = (${this.z.map(v => v.toFixed(2)).join(", ")})`
      : `z${x} = ${this.z[x].toFixed(2)}, z${y} = ${this.z[y].toFixed(2)} (of ${this.z.length} dimensions)`;
    this.sliders.forEach(({ d, input, shown }) => {
      if (Number(input.value) !== this.z[d]) input.value = this.z[d];
      shown.textContent = this.z[d].toFixed(2);
    });
  }

  resetStats() {
    this.stats = { frames: 0, decodeMs: [], toDrawn: [], toNextFrame: [] };
  }

  destroy() {
    this.destroyed = true;
    this.root.remove();
    if (window.latentPad.current === this) window.latentPad.current = null;
  }
}


// A hook for the browser tests and the benchmark: decode given latents with the current pad's decoder
// (the float output, before the canvas rounds it to 8 bits) and read the frame counters.
window.latentPad = window.latentPad || {
  current: null,
  async decode(zs) {
    const decoder = await this.current.decoderPromise;
    return zs.map(z => Array.from(decoder.decode(z)));
  },
  stats() { return this.current ? this.current.stats : null; },
  resetStats() { if (this.current) this.current.resetStats(); },
};
