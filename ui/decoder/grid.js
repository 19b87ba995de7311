// A decoded grid: latents the server sent once (float32, by URL), decoded in the browser and tiled like
// torchvision's make_grid, with a button that saves the picture as a PNG. view.js loads the decoder.

import { element, mountOnce } from "./base.js";
import { loadFloats } from "./decoder.js";
import { DecodingView, TileCanvas } from "./view.js";

const grids = new WeakMap();  // parentElement -> Grid

export default function (component) {
  return mountOnce(component, grids, parent => new Grid(parent));
}

class Grid extends DecodingView {
  constructor(parent) {
    const root = element("figure", "decoded-grid", parent);
    super(root);
    this.tiles = new TileCanvas(root, "tiles", root);
    const below = element("figcaption", "", root);
    this.caption = element("span", "caption", below);
    this.save = element("button", "save", below);
    this.save.textContent = "PNG";
    this.save.title = "Save this picture as a PNG file";
    this.save.addEventListener("click", () => this.tiles.save(this.name));
  }

  update(data, component) {
    super.update(data, component);
    this.data = data;
    this.name = data.download;
    this.caption.textContent = data.caption || "";
    if (data.latents !== this.latentsUrl) {
      this.latentsUrl = data.latents;
      this.loaded = null;
      loadFloats(data.latents).then(latents => {
        if (this.latentsUrl !== data.latents) return;  // newer data arrived meanwhile
        this.loaded = latents;
        this.changed(null);
      }, error => {
        if (this.latentsUrl !== data.latents) return;
        this.latentsUrl = null;  // the next rerun tries again
        this.failed(`Could not decode: ${error.message}`);
      });
    }
    this.changed(null);
  }

  // A grid has no status line: only a failure is told, in its caption.
  failed(text) {
    this.caption.textContent = text;
  }

  frame(start) {
    if (!this.dirty || !this.decoder || !this.loaded) return;
    this.dirty = false;
    const { count, dim, nrow, padding, width } = this.data, decoder = this.decoder, latents = this.loaded;
    const size = decoder.channels * decoder.height * decoder.width;
    this.decoded = new Float32Array(count * size);  // the float decodes, before the canvas rounds them
    this.tiles.layout(decoder, count, nrow, padding, width);
    for (let i = 0; i < count; i++) {
      const pixels = decoder.decode(latents.subarray(i * dim, (i + 1) * dim));
      this.decoded.set(pixels, i * size);
      this.tiles.tile(i, pixels);
    }
    this.tiles.show();
    this.latents = latents;  // what the tests compare with torch's decodes
    this.drawn(start);
  }
}
