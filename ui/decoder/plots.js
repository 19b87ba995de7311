// The plots of a model while it learns, drawn on 2-D canvases for the live view (live.js) and the replay
// (replay.js): the latent map, each dimension's KL as a bar, the aggregate posterior against N(0, 1) and the
// training curves. Each function draws its whole canvas from the numbers it is given.

import { byClass, element, fillLegend } from "./base.js";
import { TileCanvas } from "./view.js";

const INK = "#31333f", GRID = "#e6e6e6", MUTED = "#808495", MARK = "#ff4b4b";
const MARK_COLLAPSED = "#f7b5b5";  // one of the map's two that is collapsed: red, pale (a student counting active
                                   // units saw a red bar and could not tell whether it was one)
const FONT = "11px sans-serif";
// The aggregate posterior's points across the panel: 0.05 apart at a map's widest (±6), about a pixel of it (81,
// 0.15 apart, drew mnist-2d's mixture of posteriors with σ near 0.05 as a jagged line that missed its peaks).
const DENSITY_POINTS = 241;
// Below this many nats in all, a snapshot's posteriors sit on the prior: the bars' caption says what that means
// (the digits default falls to 0.06 by step 48 and is back at 1.3 by its end: a class watched a blob and a grey
// manifold with no word of why).
export const COLLAPSED_NATS = 0.15;
// A unit is grey where it is collapsed, as the other pages draw one: its posterior means barely vary across images
// (the snapshot's `active`, from Python's one threshold). A wider model's recording made before snapshots kept that
// has none; its bars grey a unit under this many nats instead (an 8-D run had drawn its collapsed units in the same
// blue as its active ones).
const UNIT_NEAR_ZERO_NATS = 0.01;
// (It said "the map is one blob": under 0.15 nats the digits default's means already sort the classes, 0s apart
// from the rest by step 72, and a class saw clusters under the words. What holds there is tested, in
// tests/test_live_captions.py: σ near 1, the means well inside it.)
export const COLLAPSED_NOTE = ". All near 0 now: every posterior sits close to the prior (σ near 1, mean well " +
  "inside 1σ of 0), so the codes tell little about their images, whatever order the map's means show (at step 0 " +
  "because the weights are random; later, because the decoder draws much the same average digit for any z). " +
  "Common early; it usually passes as the decoder learns to use z (a high β can keep it so).";
const ACTIVE_NEAR_ZERO = " A unit still counts as active where its means vary across images at all, however " +
  "little KL it carries.";
// A collapsed unit with this many nats or more, and at least SHIFTED_SHARE of the bars' scale: its means barely vary
// but sit together away from 0, which costs KL (half the mean squared) and tells nothing about the image. The
// digits default's first steps move every code together, and a lecturer saw a pale bar taller than the active red
// one beside it, with no word of why. (Without the share the note named "a pale bar that stands tall" beside a
// pale one of 0.1 nats, a sliver under an active bar of 1.4.)
const SHIFTED_NATS = 0.05, SHIFTED_SHARE = 0.25;
const SHIFTED_NOTE = " A grey or pale bar that stands tall: every code has moved together along that unit, away from " +
  "0; that costs KL and tells the decoder nothing about the image (common in the first steps).";

// "8.33 epochs done" between epochs' ends, "150 epochs done" at one ("150.00" read as odd on a slide), and under a
// two-hundredth one significant digit ("0.002 epochs done": mnist-2d's step 1 of 469 read "0 epochs done")
export function epochsDone(epochs) {
  const small = epochs > 0 && epochs < 0.005;
  const shown = small ? Number(epochs.toPrecision(1)) : Math.round(epochs * 100) / 100;
  const text = small || Number.isInteger(shown) ? String(shown) : shown.toFixed(2);
  return `${text} epoch${shown === 1 ? "" : "s"} done`;
}

// A canvas with its caption below, in parent: {canvas, caption}.
export function panel(parent, className, caption) {
  const figure = element("figure", `panel ${className}`, parent);
  const canvas = element("canvas", "", figure);
  const text = element("figcaption", "", figure);
  text.textContent = caption;
  return { canvas, caption: text };
}

// The panels of a model learning, in root (the live view's and the replay's): the map, the colours' legend and its
// caption, the decoded pictures and theirs, and beside them the KL bars (barsScale says what their scale is) and
// the aggregate posterior. Returns {map (with its legend), tiles, picturesCaption, bars, densities}.
export function learningPanels(root, barsScale) {
  const map = panel(root, "map", "");
  map.legend = element("div", "legend", map.canvas.parentElement);
  map.canvas.parentElement.insertBefore(map.legend, map.caption);  // (the legend sat below the curves, 600 px away)
  const pictures = element("figure", "panel pictures", root);
  const tiles = new TileCanvas(pictures, "tiles", root);
  const picturesCaption = element("figcaption", "", pictures);
  const side = element("div", "panel-stack", root);
  return { map, tiles, picturesCaption, bars: panel(side, "bars", ""), barsScale,
           densities: panel(side, "densities", "aggregate posterior of the map's two dimensions") };
}

// The panels' widths in root: full size where the map, the pictures and the bars share a row (1400 px), shrunk to
// share it down to FIT_LEAST of that (on a projector's 1280 x 720, the sidebar open, the bars and the aggregate
// posterior went below the map, off the screen while it played), full size again, wrapped, in a narrower one.
const FULL = { map: 300, pictures: 300, stack: 280 }, ROW_EXTRA = 48, FIT_LEAST = 0.75;  // (two gaps, borders)
export function panelSizes(root) {
  const room = root.clientWidth - ROW_EXTRA, full = FULL.map + FULL.pictures + FULL.stack;
  const scale = room >= full || room < FIT_LEAST * full ? 1 : room / full;
  return { map: Math.floor(FULL.map * scale), pictures: Math.floor(FULL.pictures * scale),
           stack: Math.floor(FULL.stack * scale) };
}

// The map of a snapshot's points xy (sigma: their 1σ ellipses, or null) on panels, size pixels square, with its
// caption and (once) the legend of the labels' colours.
export function showMap(panels, xy, sigma, labels, dims, data, size) {
  const names = dims.map(d => `z${d}`);
  drawMap(panels.map.canvas, size, { xy, sigma, labels, palette: data.palette, extent: data.extent, names });
  panels.map.caption.textContent = mapCaption(labels.length, names, data.extent, data.latentDim);
  if (!panels.map.legend.childElementCount) fillLegend(panels.map.legend, data.classes, data.palette);
}

// A snapshot's KL bars (on the scale klTop; active: which units are, or null) and its two dimensions' aggregate
// posteriors (densities: density()'s), width pixels wide; threshold: the variance over which a unit is active.
export function showStats(panels, kl, active, threshold, klTop, dims, densities, extent, width) {
  drawBars(panels.bars.canvas, width, 120, kl, active, klTop, dims);
  const total = Array.from(kl).reduce((sum, v) => sum + v, 0);
  const grey = active ? `grey (pale red): collapsed, its posterior means barely vary across images (variance ≤ ` +
    `${threshold})` : `grey: under ${UNIT_NEAR_ZERO_NATS}`;
  // near 0 in all with units still counted active: the two read as a contradiction ("3 of 8 active" beside "the
  // codes tell little"), which they are not
  const counted = active && active.some(Boolean) ? ACTIVE_NEAR_ZERO : "";
  const tall = Math.max(SHIFTED_NATS, SHIFTED_SHARE * klTop);
  const shifted = active && Array.from(kl).some((v, i) => !active[i] && v >= tall) ? SHIFTED_NOTE : "";
  panels.bars.caption.textContent = `KL per dimension (nats; red: the map's two, ${grey}), ${panels.barsScale}` +
    (total < COLLAPSED_NATS ? COLLAPSED_NOTE + counted : shifted ? "." + shifted : "");
  drawDensities(panels.densities.canvas, width, 120, densities, dims.map(d => `z${d}`), extent);
}

// Size canvas to width x height CSS pixels, sharp on a high-density screen; its context, cleared, in CSS pixels.
function context(canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.font = FONT;
  return ctx;
}

// Little-endian IEEE half-precision numbers in base64, as a Float32Array.
export function halvesFromBase64(text) {
  const bytes = Uint8Array.from(atob(text), c => c.charCodeAt(0)), halves = new Uint16Array(bytes.buffer);
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) {
    const h = halves[i], sign = h & 0x8000 ? -1 : 1, exponent = (h >> 10) & 0x1f, fraction = h & 0x3ff;
    out[i] = exponent === 0 ? sign * fraction * 2 ** -24
           : exponent === 31 ? (fraction ? NaN : sign * Infinity)
           : sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  return out;
}

// The points xy ([x0, y0, x1, y1, ...]) on a size x size square over [-extent, extent]^2, up positive, coloured by
// label; with sigma (standard deviations, laid out as xy) a 1σ ellipse around each. Points beyond the square are
// drawn on its edge. names: the two axes' names.
function drawMap(canvas, size, { xy, sigma, labels, palette, extent, names }) {
  const ctx = context(canvas, size, size), half = size / 2, scale = half / extent;
  ctx.strokeStyle = GRID;
  for (let v = -Math.floor(extent); v <= extent; v++) {  // a line at every whole value
    ctx.beginPath();
    ctx.moveTo(half + v * scale, 0); ctx.lineTo(half + v * scale, size);
    ctx.moveTo(0, half - v * scale); ctx.lineTo(size, half - v * scale);
    ctx.stroke();
  }
  const count = labels.length, clip = v => Math.max(1, Math.min(size - 1, v));
  if (sigma) {
    ctx.globalAlpha = 0.18;
    for (let i = 0; i < count; i++) {
      ctx.strokeStyle = palette[labels[i] % palette.length];
      ctx.beginPath();
      ctx.ellipse(half + xy[2 * i] * scale, half - xy[2 * i + 1] * scale,
                  Math.max(0.5, sigma[2 * i] * scale), Math.max(0.5, sigma[2 * i + 1] * scale), 0, 0, 2 * Math.PI);
      ctx.stroke();
    }
    ctx.globalAlpha = 1;
  }
  for (const i of byClass(labels)) {  // (as the Latent map page layers them)
    ctx.fillStyle = palette[labels[i] % palette.length];
    ctx.fillRect(clip(half + xy[2 * i] * scale) - 1.5, clip(half - xy[2 * i + 1] * scale) - 1.5, 3, 3);
  }
  ctx.fillStyle = MUTED;  // in the corners, clear of the cloud; the caption gives the extent
  ctx.textAlign = "right";
  ctx.fillText(`${names[0]} →`, size - 4, size - 5);
  ctx.textAlign = "left";
  ctx.fillText(`↑ ${names[1]}`, 4, 12);
}

// The map's caption: what its points are and its axes' span.
function mapCaption(count, names, extent, latentDim) {
  const axes = `${names[0]} across, ${names[1]} up, each from −${extent} to ${extent}`;
  return latentDim === 2 ? `posterior means of ${count.toLocaleString()} test images, coloured by label: ${axes}`
    : `posterior means of ${count.toLocaleString()} test images on the two dimensions with the most KL now, of ` +
      `${latentDim}: ${axes}`;
}

// Each dimension's KL (nats) as a bar, all on one scale whose top is `top` (the largest value seen so far: a unit
// that collapses is seen shrinking); the dimensions in `marked` in the map's colour, the others blue where active,
// grey where not (active null: under UNIT_NEAR_ZERO_NATS), and each number below in its bar's colour, which tells a
// unit whose bar is too short to see.
function drawBars(canvas, width, height, kl, active, top, marked) {
  const ctx = context(canvas, width, height), left = 34, bottom = height - 16, room = bottom - 8;
  const step = (width - left) / kl.length, label = kl.length <= 16 ? 1 : Math.ceil(kl.length / 16);
  // named as the map and every other page name them (z0, z1) where the widest name fits its bar, else by number
  const name = ctx.measureText(`z${kl.length - 1}`).width <= step * label - 4 ? d => `z${d}` : d => `${d}`;
  ctx.fillStyle = MUTED;
  ctx.textAlign = "right";
  ctx.fillText(top.toPrecision(2), left - 4, 12);
  ctx.fillText("0", left - 4, bottom);
  ctx.textAlign = "center";
  kl.forEach((value, d) => {
    const h = top > 0 ? Math.max(0, Math.min(1, value / top)) * room : 0;
    const collapsed = active ? !active[d] : value < UNIT_NEAR_ZERO_NATS;
    ctx.fillStyle = marked.includes(d) ? (collapsed ? MARK_COLLAPSED : MARK) : collapsed ? "#bbb" : "#4c78a8";
    ctx.fillRect(left + d * step + step * 0.15, bottom - h, step * 0.7, h);
    if (d % label === 0) {
      if (collapsed) ctx.fillStyle = marked.includes(d) ? MARK : MUTED;  // (pale red text is hard to read)
      ctx.fillText(name(d), left + d * step + step / 2, height - 3);
    }
  });
  ctx.strokeStyle = GRID;
  ctx.beginPath(); ctx.moveTo(left, bottom + 0.5); ctx.lineTo(width, bottom + 0.5); ctx.stroke();
}

// The aggregate posterior's density along one column of xy, mean over i of N(z; xy_i, sigma_i^2), on
// DENSITY_POINTS values over [-extent, extent].
export function density(xy, sigma, column, extent) {
  const out = new Float32Array(DENSITY_POINTS), count = xy.length / 2;
  for (let i = 0; i < count; i++) {
    const m = xy[2 * i + column], s = Math.max(sigma[2 * i + column], 1e-3), norm = 1 / (s * Math.sqrt(2 * Math.PI));
    for (let k = 0; k < DENSITY_POINTS; k++) {
      const z = -extent + (2 * extent * k) / (DENSITY_POINTS - 1), u = (z - m) / s;
      if (u > -8 && u < 8) out[k] += norm * Math.exp(-0.5 * u * u);
    }
  }
  for (let k = 0; k < DENSITY_POINTS; k++) out[k] /= count;
  return out;
}

// The two shown dimensions' aggregate posteriors (densities from density()) against the prior N(0, 1), dashed.
function drawDensities(canvas, width, height, densities, names, extent) {
  const ctx = context(canvas, width, height), bottom = height - 14;
  const prior = z => Math.exp(-0.5 * z * z) / Math.sqrt(2 * Math.PI);
  const top = Math.max(0.45, ...densities.map(d => Math.max(...d))) * 1.05;
  const x = k => (k / (DENSITY_POINTS - 1)) * width, y = v => bottom - (v / top) * (bottom - 4);
  const line = (values, colour, dash) => {
    ctx.strokeStyle = colour;
    ctx.setLineDash(dash);
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    values.forEach((v, k) => (k ? ctx.lineTo(x(k), y(v)) : ctx.moveTo(x(k), y(v))));
    ctx.stroke();
    ctx.setLineDash([]);
  };
  line(Array.from({ length: DENSITY_POINTS }, (_, k) => prior(-extent + (2 * extent * k) / (DENSITY_POINTS - 1))),
       MUTED, [4, 3]);
  densities.forEach((d, i) => line(d, ["#4c78a8", "#f58518"][i], []));
  ctx.fillStyle = MUTED;
  ctx.fillText(`−${extent}`, 2, height - 2);
  ctx.textAlign = "right";
  ctx.fillText(`${extent}`, width - 2, height - 2);
  ctx.textAlign = "left";
  names.forEach((name, i) => {
    ctx.fillStyle = ["#4c78a8", "#f58518"][i];
    ctx.fillText(`q(${name})`, 4, 12 + 13 * i);
  });
  ctx.fillStyle = MUTED;
  ctx.fillText("N(0, 1) dashed", 4, 12 + 13 * names.length);
}

// Training curves by step: train −ELBO, reconstruction and KL (thin), the test values after each epoch (dots),
// a dashed line where β or the learning rate was changed (named), and the current step (a red line); as wide
// as the view the canvas's panel is in allows.
// curves: {train: [[step, −ELBO, recon, kl]], test: [[step, nelbo, recon, kl]], changes: [[step, text]], total,
// log}: with log the step axis is logarithmic (a recording's snapshots are log-spaced: its first steps matter most).
export function drawCurves(canvas, curves, current) {
  const width = Math.max(400, Math.min(960, canvas.parentElement.parentElement.clientWidth || 900)), height = 220;
  const ctx = context(canvas, width, height), left = 42, bottom = height - 18;
  const { train, test, changes, total, log } = curves;
  const colours = ["#444", "#1f77b4", "#ff7f0e"], names = ["−ELBO (train: lines, test: dots)", "recon", "KL"];
  // (log of 1 + step: the initial weights' step 0 has a place, which a log scale of the step itself lacks)
  const axisName = `step${log ? ", log(1 + step) scale" : ""} (the run has ${total.toLocaleString()})`;
  // the legend above, each name after the one before; the step axis's name beside it on the right (the bottom row
  // has the steps), or on a row of its own where the two would meet (at 800 px, "step, log scale" was written over
  // "recon" and "KL")
  const starts = names.reduce((at, name) => [...at, at[at.length - 1] + ctx.measureText(name).width + 14], [left + 6]);
  const ownRow = starts[names.length] + ctx.measureText(axisName).width > width - 4;
  const plotTop = ownRow ? 34 : 20;
  const values = train.flatMap(p => p.slice(1)).concat(test.flatMap(p => p.slice(1)));
  // a linear axis leaves the first steps' spike out; a log axis shows those steps, so all of it
  const top = !values.length ? 1 : log ? Math.max(...values) * 1.05 : quantile(values, 0.98) * 1.1;
  const bottomValue = values.length ? Math.min(0, ...values) : 0;
  // the steps taken so far, and some room ahead: the run's first steps are not squeezed against the axis
  const last = Math.max(current ?? 0, ...train.map(p => p[0]), ...test.map(p => p[0]), 10);
  const span = log ? total : Math.min(total || last * 1.2, last * 1.2);
  const along = log ? s => Math.log1p(Math.min(s, span)) / Math.log1p(span) : s => Math.min(s, span) / span;
  const x = s => left + along(s) * (width - left - 4);
  const y = v => bottom - ((Math.min(v, top) - bottomValue) / (top - bottomValue || 1)) * (bottom - plotTop);
  ctx.fillStyle = MUTED;
  ctx.textAlign = "right";
  ctx.fillText("nats", left - 4, 12);
  for (const v of niceTicks(bottomValue, top)) {  // a grid line and a label at each round value of nats
    ctx.fillStyle = GRID;
    ctx.fillRect(left, Math.round(y(v)), width - left - 4, 1);
    ctx.fillStyle = MUTED;
    ctx.fillText(v.toLocaleString(), left - 4, y(v) + 4);
  }
  ctx.textAlign = "right";
  ctx.fillText(axisName, width - 4, ownRow ? 26 : 12);
  // the bottom row: its ends, the marked step (red: which step the red line is at), then round steps (powers of ten
  // on a log axis), each drawn where it clears those placed before it ("100" beside "120" read 100120; a linear
  // axis with its ends alone left a paused run's step to be guessed)
  const rounds = log ? [] : niceTicks(0, span);
  for (let p = 10; log && p < span; p *= 10) rounds.push(p);
  const labels = [[left, "0", "left", MUTED], [width - 4, Math.round(span).toLocaleString(), "right", MUTED]];
  if (current != null) labels.push([x(current), `step ${current.toLocaleString()}`, "center", MARK]);
  for (const s of rounds) if (s > 0 && s < span) labels.push([x(s), s.toLocaleString(), "center", MUTED]);
  const placed = [];
  for (const [at, text, align, colour] of labels) {
    const w = ctx.measureText(text).width;
    const lo = Math.min(Math.max(align === "left" ? at : align === "right" ? at - w : at - w / 2, 0), width - w);
    if (placed.some(([a, b]) => lo < b + 6 && lo + w > a - 6)) continue;
    placed.push([lo, lo + w]);
    ctx.textAlign = "left";
    ctx.fillStyle = colour;
    ctx.fillText(text, lo, height - 3);
  }
  ctx.fillStyle = GRID;
  for (const s of rounds) if (s > 0 && s < span) ctx.fillRect(Math.round(x(s)), plotTop, 1, bottom - plotTop);
  for (let c = 1; c <= 3; c++) {
    ctx.strokeStyle = colours[c - 1];
    ctx.globalAlpha = 0.55;
    ctx.lineWidth = 1;
    ctx.beginPath();
    train.forEach((p, i) => (i ? ctx.lineTo(x(p[0]), y(p[c])) : ctx.moveTo(x(p[0]), y(p[c]))));
    ctx.stroke();
    ctx.globalAlpha = 1;
    ctx.fillStyle = colours[c - 1];
    const every = Math.ceil(test.length / 60);  // dots far enough apart to tell from the lines
    test.forEach((p, i) => {
      if (i % every && i !== test.length - 1) return;
      ctx.beginPath();
      ctx.arc(x(p[0]), y(p[c]), 3, 0, 2 * Math.PI);
      ctx.fill();
    });
  }
  ctx.textAlign = "left";
  names.forEach((name, i) => {
    ctx.fillStyle = colours[i];
    ctx.fillText(name, starts[i], 12);
  });
  ctx.setLineDash([4, 3]);
  for (const [step, text] of changes) {
    ctx.strokeStyle = MUTED;
    ctx.beginPath(); ctx.moveTo(x(step), plotTop - 4); ctx.lineTo(x(step), bottom); ctx.stroke();
    ctx.fillStyle = INK;
    ctx.fillText(text, x(step) + 3, plotTop + 8);
  }
  ctx.setLineDash([]);
  if (current !== null) {
    ctx.strokeStyle = MARK;
    ctx.beginPath(); ctx.moveTo(x(current) + 0.5, plotTop - 4); ctx.lineTo(x(current) + 0.5, bottom); ctx.stroke();
    const last = train.filter(p => p[0] <= current).pop();  // the latest point at or before the marked step
    if (last) {
      ctx.fillStyle = MARK;
      ctx.beginPath(); ctx.arc(x(last[0]), y(last[1]), 4, 0, 2 * Math.PI); ctx.fill();
    }
  }
}

// Round values from lo to hi, about four of them: the multiples of 1, 2 or 5 times a power of ten, 0 among them.
function niceTicks(lo, hi) {
  const raw = (hi - lo) / 4, power = 10 ** Math.floor(Math.log10(raw || 1));
  const step = [1, 2, 5, 10].map(m => m * power).find(s => s >= raw);
  const ticks = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi; v += step) ticks.push(Math.round(v / step) * step);
  return ticks;
}

function quantile(values, q) {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

// Pictures (uint8, count x height x width, from a recording) as float pixels for TileCanvas.tile.
export function pictureAt(bytes, index, size) {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = bytes[index * size + i] / 255;
  return out;
}
