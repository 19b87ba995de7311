// The in-browser decoder every component of ui/decoder shares: it parses the blob of vae_core/export.py and
// decodes latents with the model's own float32 weights. Prepended to each component's module (no build step);
// its caches live on window, so the components of one page fetch each URL once between them.

const vaeLab = window.vaeLab = window.vaeLab || {};
vaeLab.decoders = vaeLab.decoders || new Map();   // decoder URL -> Promise<decoder>
vaeLab.floats = vaeLab.floats || new Map();       // URL of float32 data -> Promise<Float32Array>
vaeLab.components = vaeLab.components || {};      // component key -> the live instance, for tests and benchmarks
const MAGIC = "VAEDEC1\0";
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];

// Streamlit calls a component's default export again with each rerun's data: one instance per parentElement,
// created by make(parentElement) and given update(data, component); it may run a superseded cleanup at once,
// so only the latest one removes the instance (destroy()).
function mountOnce(component, instances, make) {
  const { data, parentElement } = component;
  let instance = instances.get(parentElement);
  if (!instance) {
    instance = make(parentElement);
    instance.generation = 0;
    instances.set(parentElement, instance);
  }
  const generation = ++instance.generation;
  instance.update(data, component);
  return () => {
    if (instance.generation !== generation) return;
    instance.destroy();
    instances.delete(parentElement);
    if (vaeLab.components[instance.key] === instance) delete vaeLab.components[instance.key];
  };
}

function fetchOnce(cache, url, parse, what) {
  if (!cache.has(url)) {
    const loading = fetch(url)
      .then(r => { if (!r.ok) throw new Error(`${what}: HTTP ${r.status}`); return r.arrayBuffer(); })
      .then(parse)
      .catch(error => { cache.delete(url); throw error; });  // a later rerun may try again
    cache.set(url, loading);
  }
  return cache.get(url);
}

function loadDecoder(url) {
  return fetchOnce(vaeLab.decoders, url, parseDecoder, "decoder weights");
}

function loadFloats(url) {
  return fetchOnce(vaeLab.floats, url, buffer => new Float32Array(buffer), "latents");
}

function parseDecoder(buffer) {
  const bytes = new Uint8Array(buffer);
  const text = new TextDecoder();
  if (text.decode(bytes.subarray(0, 8)) !== MAGIC) throw new Error("decoder weights: not a packed decoder");
  const length = new DataView(buffer).getUint32(8, true);
  const header = JSON.parse(text.decode(bytes.subarray(12, 12 + length)));
  // The packer pads the header so the floats start 4-byte aligned; typed arrays are little-endian everywhere we run.
  const data = new Float32Array(buffer, 12 + length);
  const part = ([offset, count]) => data.subarray(offset, offset + count);
  const layers = header.layers.map(layer => layer.op === "linear" ? {
    ...layer, w: transpose(part(layer.weight), layer.out, layer.in), b: part(layer.bias),
    y: new Float32Array(layer.out), nonzero: new Int32Array(layer.in),
  } : {
    ...layer, w: part(layer.weight), b: part(layer.bias), y: new Float32Array(layer.out_shape.reduce((a, b) => a * b)),
  });
  const input = new Float32Array(header.latent_dim);
  const pixels = new Float32Array(layers[layers.length - 1].y.length);
  const [channels, height, width] = header.image_shape;
  return {
    header, bytes: buffer.byteLength, channels, height, width,
    // Bernoulli means of one latent, (C, H, W) flattened; the returned array is reused by the next call.
    decode(z) {
      input.set(z);
      let x = input;
      for (const layer of layers) {
        (layer.op === "linear" ? linear : convTranspose)(layer, x, layer.y);
        x = layer.y;
      }
      for (let i = 0; i < x.length; i++) pixels[i] = 1 / (1 + Math.exp(-x[i]));
      return pixels;
    },
  };
}

// y = b + sum over the inputs i that are not zero of x[i] * (column i of W), four columns a pass. The weights are
// held transposed (`in` rows of `out`), so each pass runs along contiguous memory, and after a ReLU about half the
// inputs are zero and cost nothing: 5x faster than a dot product per output (mnist-2d's decoder, 0.2 ms in V8).
function linear(layer, x, y) {
  const out = layer.out, w = layer.w, nonzero = layer.nonzero;
  let count = 0;
  for (let i = 0; i < layer.in; i++) if (x[i] !== 0) nonzero[count++] = i;
  y.set(layer.b);
  let j = 0;
  for (; j + 4 <= count; j += 4) {
    const i0 = nonzero[j], i1 = nonzero[j + 1], i2 = nonzero[j + 2], i3 = nonzero[j + 3];
    const v0 = x[i0], v1 = x[i1], v2 = x[i2], v3 = x[i3];
    const r0 = i0 * out, r1 = i1 * out, r2 = i2 * out, r3 = i3 * out;
    for (let o = 0; o < out; o++) y[o] += w[r0 + o] * v0 + w[r1 + o] * v1 + w[r2 + o] * v2 + w[r3 + o] * v3;
  }
  for (; j < count; j++) {
    const v = x[nonzero[j]], row = nonzero[j] * out;
    for (let o = 0; o < out; o++) y[o] += w[row + o] * v;
  }
  if (layer.relu) for (let o = 0; o < out; o++) if (y[o] < 0) y[o] = 0;
}

// A [rows, cols] row-major matrix as [cols, rows].
function transpose(m, rows, cols) {
  const t = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
  return t;
}

// Each input pixel scatters its kernel-weighted value into the output: out[s*i - p + k] += x[i] * w[k].
function convTranspose(layer, x, y) {
  const [c, h, w] = layer.in_shape, [oc, oh, ow] = layer.out_shape;
  const k = layer.kernel, s = layer.stride, p = layer.padding, weight = layer.w;
  for (let o = 0; o < oc; o++) y.fill(layer.b[o], o * oh * ow, (o + 1) * oh * ow);
  for (let ci = 0; ci < c; ci++) {
    for (let iy = 0; iy < h; iy++) {
      for (let ix = 0; ix < w; ix++) {
        const v = x[(ci * h + iy) * w + ix];
        if (v === 0) continue;  // after a ReLU many inputs are zero
        for (let o = 0; o < oc; o++) {
          const base = (ci * oc + o) * k * k, plane = o * oh * ow;
          for (let ky = 0; ky < k; ky++) {
            const oy = iy * s - p + ky;
            if (oy < 0 || oy >= oh) continue;
            for (let kx = 0; kx < k; kx++) {
              const ox = ix * s - p + kx;
              if (ox >= 0 && ox < ow) y[plane + oy * ow + ox] += v * weight[base + ky * k + kx];
            }
          }
        }
      }
    }
  }
  if (layer.relu) for (let i = 0; i < y.length; i++) if (y[i] < 0) y[i] = 0;
}

// Paint one decoded image (C, H, W) into rgba at tile (left, top) of an image `stride` pixels wide.
function paintTile(rgba, stride, left, top, pixels, decoder) {
  const { channels: c, height: h, width: w } = decoder, n = h * w;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x, o = 4 * ((top + y) * stride + left + x);
      for (let j = 0; j < 3; j++) rgba[o + j] = 255 * pixels[(c === 3 ? j * n : 0) + i];  // clamps and rounds
      rgba[o + 3] = 255;
    }
  }
}

// A grid of tiles as torchvision's make_grid lays it out: `padding` white pixels around and between tiles.
class TileCanvas {
  constructor(parent, className) {
    this.canvas = element("canvas", className, parent);
  }

  layout(decoder, count, nrow, padding, displayWidth) {
    const rows = Math.ceil(count / nrow);
    const width = nrow * (decoder.width + padding) + padding, height = rows * (decoder.height + padding) + padding;
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
      this.image = new ImageData(width, height);
      this.image.data.fill(255);  // the gaps are white
    }
    // Never wider than the component. (Not the canvas's own parent: a figure that shrinks to its content measures
    // the canvas itself, and the sliders' digit stayed at 28 px.)
    const box = this.canvas.closest(".latent-pad, .latent-sliders, .decoded-grid") || this.canvas.parentElement;
    const room = Math.min(displayWidth, box.clientWidth || displayWidth);
    // whole multiples keep the pixel edges sharp; a picture wider than its box shrinks to fit it
    const scale = room >= width ? Math.floor(room / width) : Math.max(0.25, room / width);
    this.canvas.style.width = `${width * scale}px`;
    this.canvas.style.height = `${height * scale}px`;
    Object.assign(this, { decoder, nrow, padding });
  }

  tile(index, pixels) {
    const { decoder, nrow, padding } = this;
    const left = padding + (index % nrow) * (decoder.width + padding);
    const top = padding + Math.floor(index / nrow) * (decoder.height + padding);
    paintTile(this.image.data, this.canvas.width, left, top, pixels, decoder);
  }

  show() {
    this.canvas.getContext("2d").putImageData(this.image, 0, 0);  // CSS scales it up with hard pixel edges
  }
}

// Save a canvas as a PNG file: the decoded picture at its own resolution.
function downloadPng(canvas, name) {
  canvas.toBlob(blob => {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }, "image/png");
}

function element(tag, className, parent) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (parent) parent.appendChild(node);
  return node;
}

// Append value to a list of samples (latencies, points sent), keeping the latest `keep`.
function push(list, value, keep = 5000) {
  list.push(value);
  if (list.length > keep) list.shift();
}

// Send a released point to Python as the component's "release" state: a state (not a one-shot trigger, which a
// rerun interrupted by the next key press could drop) that changes with every release, even to the same point.
let releases = 0;
function sendRelease(component, z) {
  component.setStateValue("release", { z: z.slice(), n: ++releases });
}

