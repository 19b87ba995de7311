// The live view of a run while it trains, all of one step (the latest snapshot's): the posterior means of a fixed
// subset of the test set (moving smoothly from the last snapshot's), the decoded manifold or prior samples the
// worker decoded from the weights of that step, each dimension's KL on one scale, the aggregate posterior against
// N(0, 1), and the training curves with that step marked. It fetches the run's feed (ui/live.py: a small JSON file
// the server rewrites as the run's events come: the snapshot's numbers in base64 float16 and its pictures' URL,
// the curves) every data.every seconds, then the snapshot's pictures, and shows the snapshot once they are here;
// the server reruns nothing for it and draws nothing.

import { element, mountOnce } from "./base.js";
import { loadBytes } from "./decoder.js";
import {
  density, drawCurves, epochsDone, halvesFromBase64, learningPanels, panel, panelSizes, pictureAt, showMap, showStats,
} from "./plots.js";
import { DecodingView } from "./view.js";

const views = new WeakMap();  // parentElement -> LiveView
const TWEEN_MS = 400;         // a snapshot's points move from the last one's over this long

export default function (component) {
  return mountOnce(component, views, parent => new LiveView(parent));
}

class LiveView extends DecodingView {
  constructor(parent) {
    const root = element("div", "live-view waiting", parent);  // waiting: its panels hidden until a snapshot
    super(root);
    // the run's progress line while it runs (the page draws none of its own then; a waiting run's is the page's)
    this.progressLine = element("div", "live-progress", root);
    this.progressText = element("div", "live-progress-text", this.progressLine);
    this.progressBar = element("progress", "", this.progressLine);
    this.progressBar.max = 1;
    this.head = element("div", "live-head", root);
    this.head.title = "Snapshots come twice a second: while the run trains, its own step, in the line above, is a " +
                      "little ahead of the snapshot's.";
    this.panels = learningPanels(root, "on the largest value this run has reached: a unit collapsing is seen " +
                                       "shrinking");
    this.mapCanvas = this.panels.map.canvas;  // for the tests
    const toggle = element("label", "toggle", this.panels.map.canvas.parentElement);
    this.ellipses = element("input", "", toggle);
    this.ellipses.type = "checkbox";
    element("span", "", toggle).textContent = " 1σ ellipses";
    this.ellipses.addEventListener("change", () => this.changed(null));
    this.curves = panel(root, "curves", "");
    this.status = element("div", "status", root);
    this.snapshots = 0;        // snapshots drawn (for the tests)
    this.klTop = 0;            // the largest KL bar seen in this run
    this.from = this.to = null;
    this.tweenStart = 0;
  }

  update(data, component) {
    this.component = component;
    const runChanged = this.data && data.run !== this.data.run;
    this.data = data;
    if (runChanged) {
      Object.assign(this, { klTop: 0, from: null, to: null, step: undefined, pending: undefined, snapshots: 0,
                            feed: null });
      this.root.classList.add("waiting");
    }
    if (!this.polling) {
      this.polling = setInterval(() => this.poll(), 1000 * data.every);
      this.poll();
    }
    if (data.labels !== this.labelsUrl) {
      this.labelsUrl = data.labels;
      loadBytes(data.labels).then(labels => { this.labels = labels; this.changed(null); },
                                  error => this.say(`Could not load the labels: ${error.message}`));
    }
    this.changed(null);
  }

  // Fetch the feed (one request at a time); a failed fetch is told and tried again at the next tick.
  poll() {
    if (this.fetching || this.destroyed) return;
    this.fetching = true;
    const url = this.data.feed;
    fetch(url, { cache: "no-store" })
      .then(r => {
        // the run ended: its feed says so, or is gone (it is written before the view is sent, and deleted a little
        // after the end)
        if (r.status === 404 && url === this.data.feed) this.end(url);
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        return r.json();
      })
      .then(feed => {
        if (url !== this.data.feed) return;
        if (feed.ended) this.end(url);
        else this.show(feed);
      }, error => this.say(`Waiting for the run's feed (${error.message})…`))
      .finally(() => { this.fetching = false; });
  }

  end(url) {
    clearInterval(this.polling);
    this.polling = null;  // a newer run's data starts it again
    if (this.ended !== url) {  // the page reruns, once, to show how it ended
      this.ended = url;
      this.component.setTriggerValue("ended", true);
    }
  }

  show(feed) {
    if (!this.feed) this.say("");
    this.feed = feed;
    this.fetches = (this.fetches || 0) + 1;
    if (feed.progress) {  // none while the run waits: the page draws that line
      this.progressBar.value = feed.progress.fraction;
      this.progressText.textContent = feed.progress.text;
      this.progressLine.hidden = !feed.progress.text;
    }
    const snapshot = feed.snapshot;
    if (snapshot && snapshot.step !== this.step && snapshot.step !== this.pending) this.fetchPictures(snapshot);
    this.plotsDirty = true;
    this.changed(null);
  }

  // The snapshot's pictures, then the snapshot itself: map, bars and pictures change together. One that is
  // overtaken by a newer snapshot, or whose pictures are already gone (three newer ones came), is skipped.
  fetchPictures(snapshot) {
    this.pending = snapshot.step;
    const run = this.data.run;
    fetch(snapshot.pictures, { cache: "no-store" })
      .then(r => { if (!r.ok) throw new Error(`HTTP ${r.status}`); return r.arrayBuffer(); })
      .then(buffer => {
        if (this.pending !== snapshot.step || this.data.run !== run) return;
        this.pending = undefined;
        this.take(snapshot, new Uint8Array(buffer));
        this.plotsDirty = true;
        this.changed(null);
      }, error => {
        if (this.pending !== snapshot.step) return;
        this.pending = undefined;  // the next feed brings a newer one
        if (!/HTTP 404/.test(error.message)) this.say(`Could not load a snapshot's pictures: ${error.message}`);
      });
  }

  destroy() {
    clearInterval(this.polling);
    super.destroy();
  }

  take(snapshot, pictures) {
    this.root.classList.remove("waiting");
    const mu = halvesFromBase64(snapshot.mu), logvar = halvesFromBase64(snapshot.logvar);
    const sigma = logvar.map(v => Math.exp(0.5 * v));
    const sameAxes = this.to && this.to.dims.join() === snapshot.dims.join() && this.to.xy.length === mu.length;
    this.from = sameAxes ? this.current() : null;
    this.to = { xy: mu, sigma, dims: snapshot.dims, step: snapshot.step, epoch: snapshot.epoch, kl: snapshot.kl,
                active: snapshot.active };
    this.extent = snapshot.extent;  // the largest half-width its snapshots have needed so far (grows, as klTop)
    this.densityLines = [0, 1].map(c => density(mu, sigma, c, this.extent));
    this.klTop = Math.max(this.klTop, ...snapshot.kl);
    this.tweenStart = performance.now();
    this.step = snapshot.step;
    this.shownPictures = pictures;
    this.picturesDirty = true;
    this.snapshots += 1;
  }

  // The points as drawn now: on their way from the last snapshot's to this one's.
  current() {
    const { from, to } = this;
    const t = from ? Math.min(1, (performance.now() - this.tweenStart) / TWEEN_MS) : 1;
    if (t >= 1) return to.xy;
    const eased = t * (2 - t);
    return to.xy.map((v, i) => from[i] + (v - from[i]) * eased);
  }

  frame(start) {
    if (!this.dirty) return;
    this.dirty = false;
    const data = this.data, to = this.to, feed = this.feed, fit = panelSizes(this.root);
    if (String(Object.values(fit)) !== String(this.fit && Object.values(this.fit))) {  // refitted to a new width
      this.fit = fit;
      this.plotsDirty = this.picturesDirty = true;
    }
    this.head.textContent = to
      ? `snapshot of step ${to.step.toLocaleString()} · ${epochsDone(to.epoch)}: the map, bars, ` +
        "pictures and the curves' red line below all show this step"
      : "waiting for the first snapshot…";
    if (to && this.labels) {
      showMap(this.panels, this.current(), this.ellipses.checked ? to.sigma : null, this.labels, to.dims,
              { ...data, extent: this.extent }, fit.map);
      if (this.from && performance.now() - this.tweenStart < TWEEN_MS) this.changed(null);  // still moving
    }
    if (to && this.plotsDirty) {
      this.plotsDirty = false;
      showStats(this.panels, to.kl, to.active, data.threshold, this.klTop, to.dims, this.densityLines, this.extent,
                fit.stack);
      drawCurves(this.curves.canvas, feed.curves, to.step);
    }
    if (to && this.picturesDirty) {
      this.picturesDirty = false;
      const { count, nrow, height, width } = data, pixels = height * width;
      const tiles = this.panels.tiles;
      tiles.layout({ channels: 1, height, width }, count, nrow, 1, fit.pictures);
      for (let i = 0; i < count; i++) tiles.tile(i, pictureAt(this.shownPictures, i, pixels));
      tiles.show();
      this.panels.picturesCaption.textContent = `${data.latentDim === 2 ? "the decoded manifold over the central " +
        "90% of N(0, 1) on each axis" : `${count} samples from the prior`}, decoded from the weights at this step`;
      this.pictures = (this.pictures || 0) + 1;  // pictures drawn (for the tests)
    }
    this.drawn(start);
  }
}
