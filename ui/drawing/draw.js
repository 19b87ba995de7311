// The drawing pad: draw a digit with a mouse, a pen or a finger (pointer events), white ink on black like
// the datasets' images. When a stroke ends the picture goes to Python as a PNG (a state value, kept across
// reruns); Clear empties it.

import { element, mountOnce } from "../decoder/base.js";

const pads = new WeakMap();  // parentElement -> DrawingPad

export default function (component) {
  return mountOnce(component, pads, (parent, data) => new DrawingPad(parent, data));
}

class DrawingPad {
  constructor(parent, data) {
    this.root = element("div", "drawing-pad", parent);
    this.canvas = element("canvas", "", this.root);
    this.canvas.width = this.canvas.height = data.size;
    this.canvas.style.width = this.canvas.style.height = `${data.size}px`;
    this.canvas.setAttribute("aria-label", "drawing pad: draw a digit here");
    const clear = element("button", "", this.root);
    clear.textContent = "Clear";
    clear.addEventListener("click", () => { this.clear(); this.send("png", null); });
    this.ctx = this.canvas.getContext("2d");
    this.ctx.lineCap = this.ctx.lineJoin = "round";
    this.ctx.lineWidth = data.size / 11;  // about a pen's stroke on the datasets' digits
    this.ctx.strokeStyle = "#fff";
    this.clear();
    this.listen();
  }

  update(data, component) {
    this.component = component;  // the tests' way in, as on the decoders' views
    this.send = component.setStateValue;
    if (data.clear !== this.clearToken) {  // Python asked for an empty pad (after keeping a drawing, say)
      if (this.clearToken !== undefined) { this.clear(); this.send("png", null); }
      this.clearToken = data.clear;
    }
  }

  destroy() {
    this.root.remove();
  }

  clear() {
    this.ctx.fillStyle = "#000";
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
  }

  point(e) {
    const box = this.canvas.getBoundingClientRect();
    return [(e.clientX - box.left) * this.canvas.width / box.width, (e.clientY - box.top) * this.canvas.height / box.height];
  }

  listen() {
    const c = this.canvas;
    c.addEventListener("pointerdown", e => {
      e.preventDefault();
      c.setPointerCapture(e.pointerId);
      this.last = this.point(e);
      this.dot(this.last);  // a tap leaves a dot (a line of no length draws nothing in Chromium)
    });
    c.addEventListener("pointermove", e => {
      if (!this.last) return;
      const next = this.point(e);
      this.line(this.last, next);
      this.last = next;
    });
    const end = () => {
      if (!this.last) return;
      this.last = null;
      this.send("png", this.canvas.toDataURL("image/png"));  // one rerun per stroke
    };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
  }

  dot([x, y]) {
    this.ctx.beginPath();
    this.ctx.arc(x, y, this.ctx.lineWidth / 2, 0, 2 * Math.PI);
    this.ctx.fillStyle = this.ctx.strokeStyle;
    this.ctx.fill();
  }

  line(from, to) {
    this.ctx.beginPath();
    this.ctx.moveTo(...from);
    this.ctx.lineTo(...to);
    this.ctx.stroke();
  }
}
