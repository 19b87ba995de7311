// The drawing pad: draw a digit with a mouse, a pen or a finger (pointer events), white ink on black like
// the datasets' images. When a stroke ends the picture goes to Python as a PNG (a state value, kept across
// reruns); Clear empties it. A plain ES module for Streamlit's components v2: no build step.

const pads = new WeakMap();

export default function (component) {
  const { data, parentElement, setStateValue } = component;
  let pad = pads.get(parentElement);
  if (!pad) {
    pad = new DrawingPad(parentElement, data);
    pads.set(parentElement, pad);
  }
  pad.send = setStateValue;
  if (data.clear !== pad.clearToken) {  // Python asked for an empty pad (after keeping a drawing, say)
    if (pad.clearToken !== undefined) { pad.clear(); pad.send("png", null); }
    pad.clearToken = data.clear;
  }
  const generation = ++pad.generation;
  return () => {
    if (pad.generation !== generation) return;
    pad.root.remove();
    pads.delete(parentElement);
  };
}

class DrawingPad {
  constructor(parent, data) {
    this.generation = 0;
    this.root = document.createElement("div");
    this.root.className = "drawing-pad";
    this.canvas = document.createElement("canvas");
    this.canvas.width = this.canvas.height = data.size;
    this.canvas.style.width = this.canvas.style.height = `${data.size}px`;
    this.canvas.setAttribute("aria-label", "drawing pad: draw a digit here");
    const clear = document.createElement("button");
    clear.textContent = "Clear";
    clear.addEventListener("click", () => { this.clear(); this.send("png", null); });
    this.root.append(this.canvas, clear);
    parent.appendChild(this.root);
    this.ctx = this.canvas.getContext("2d");
    this.ctx.lineCap = this.ctx.lineJoin = "round";
    this.ctx.lineWidth = data.size / 11;  // about a pen's stroke on the datasets' digits
    this.ctx.strokeStyle = "#fff";
    this.clear();
    this.listen();
    const lab = window.vaeLab = window.vaeLab || {};  // shared with ui/decoder's components
    (lab.components = lab.components || {})[data.key] = this;
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
      this.line(this.last, this.last);  // a tap leaves a dot
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

  line(from, to) {
    this.ctx.beginPath();
    this.ctx.moveTo(...from);
    this.ctx.lineTo(...to);
    this.ctx.stroke();
  }
}
