// The replay of a recorded training: a scrubber over its snapshots (from the initial weights to the end) and a
// play button; each snapshot's map of posterior means (moving smoothly to the next while playing), its recorded
// pictures, its KL bars on the recording's one scale and its aggregate posterior. The recording comes once, by
// URL (float32 means and standard deviations, uint8 labels and pictures); nothing is sent back.

import { element, mountOnce, watchWidth } from "./base.js";
import { loadBytes, loadFloats } from "./decoder.js";
import {
  density, drawCurves, epochsDone, learningPanels, panel, panelSizes, pictureAt, showMap, showStats,
} from "./plots.js";

const replays = new WeakMap();  // parentElement -> Replay
const PLAY_MS = 450;            // each snapshot's time while playing, most of it spent moving to the next

export default function (component) {
  return mountOnce(component, replays, parent => new Replay(parent));
}

class Replay {
  constructor(parent) {
    this.root = element("div", "live-view replay", parent);
    const bar = element("div", "replay-bar", this.root);
    this.play = element("button", "", bar);
    this.play.textContent = "▶ Play";
    this.play.addEventListener("click", () => (this.timer ? this.stop() : this.start()));
    this.scrubber = element("input", "", bar);
    Object.assign(this.scrubber, { type: "range", min: 0, step: 1 });
    this.scrubber.setAttribute("aria-label", "snapshot");
    this.scrubber.addEventListener("input", () => { this.stop(); this.show(Number(this.scrubber.value)); });
    this.head = element("span", "live-head", bar);
    this.panels = learningPanels(this.root, "one scale for the whole recording");
    this.mapCanvas = this.panels.map.canvas;  // for the tests
    this.curves = panel(this.root, "curves", "each epoch's train means (lines) and test values (dots), from the " +
                                             "end of the first epoch on; the red line is the snapshot's step, on " +
                                             "a log scale as the snapshots are spaced");
    this.status = element("div", "status", this.root);
    this.index = null;   // the snapshot shown (for the tests)
    this.drawnCount = 0;
    // a window of another width: the panels refitted to it (panelSizes), the snapshot drawn again
    this.resized = watchWidth(this.root, () => this.loaded && this.index !== null && this.show(this.index, 0, true));
  }

  update(data) {
    if (this.data && this.data.mu === data.mu) return;  // the same recording: keep the scrubber where it is
    this.stop();
    this.data = data;
    this.loaded = null;
    this.status.textContent = "Loading the recording…";
    Promise.all([loadFloats(data.mu), loadFloats(data.sigma), loadBytes(data.labels), loadBytes(data.pictures)])
      .then(([mu, sigma, labels, pictures]) => {
        if (this.data !== data) return;
        this.loaded = { mu, sigma, labels, pictures };
        this.scrubber.max = data.steps.length - 1;
        this.status.textContent = `${data.steps.length} snapshots at log-spaced steps: the first steps change most.`;
        this.show(data.steps.length - 1);
      }, error => { this.status.textContent = `Could not load the recording: ${error.message}`; });
  }

  destroy() {
    this.stop();
    this.resized.disconnect();
    this.root.remove();
  }

  start() {
    if (!this.loaded) return;
    if (this.index >= this.data.steps.length - 1) this.show(0);
    this.play.textContent = "❚❚ Pause";
    const began = performance.now(), from = this.index;
    const tick = () => {
      const position = from + (performance.now() - began) / PLAY_MS, last = this.data.steps.length - 1;
      if (position >= last) { this.show(last); this.stop(); return; }
      this.show(Math.floor(position), position % 1);
      this.timer = requestAnimationFrame(tick);
    };
    this.timer = requestAnimationFrame(tick);
  }

  stop() {
    if (this.timer) cancelAnimationFrame(this.timer);
    this.timer = null;
    this.play.textContent = "▶ Play";
  }

  // Snapshot i, its points a fraction `toward` of the way to snapshot i + 1's (when both share their axes); all its
  // panels drawn again if again.
  show(i, toward = 0, again = false) {
    const { data, loaded } = this, size = loaded.labels.length * 2, dims = data.dims[i], fit = panelSizes(this.root);
    let xy = loaded.mu.subarray(i * size, (i + 1) * size);
    const next = data.dims[i + 1];
    if (toward > 0 && next && next.join() === dims.join()) {
      const after = loaded.mu.subarray((i + 1) * size, (i + 2) * size), eased = toward * toward * (3 - 2 * toward);
      xy = xy.map((v, k) => v + (after[k] - v) * eased);
    }
    showMap(this.panels, xy, null, loaded.labels, dims, data, fit.map);
    if (i === this.index && !again) return;  // the rest changes only between snapshots
    this.index = i;
    this.scrubber.value = i;
    this.head.textContent = `snapshot ${i + 1} of ${data.steps.length} · step ${data.steps[i].toLocaleString()} · ` +
                            epochsDone(data.epochs[i]);
    const sigma = loaded.sigma.subarray(i * size, (i + 1) * size);
    showStats(this.panels, data.kl[i], data.active[i], data.threshold, data.klTop, dims,
              [0, 1].map(c => density(xy, sigma, c, data.extent)), data.extent, fit.stack);
    const { count, nrow, height, width } = data, pixels = height * width;
    const shape = { channels: 1, height, width };
    const tiles = this.panels.tiles;
    tiles.layout(shape, count, nrow, 1, fit.pictures);
    for (let k = 0; k < count; k++) tiles.tile(k, pictureAt(loaded.pictures, i * count + k, pixels));
    tiles.show();
    this.panels.picturesCaption.textContent = data.latentDim === 2 ? "the decoded manifold over the central 90% of N(0, 1) " +
                                                              "on each axis, as recorded"
                                                            : `${count} samples from the prior, as recorded`;
    this.curves.canvas.parentElement.style.display = data.curves ? "" : "none";
    if (data.curves) {
      drawCurves(this.curves.canvas, data.curves, data.steps[i]);
    }
    this.drawnCount += 1;
  }
}
