// A decoded grid: latents the server sent once (float32, by URL), decoded in the browser and tiled like
// torchvision's make_grid, with a button that saves the picture as a PNG. decoder.js is prepended.

const grids = new WeakMap();  // parentElement -> Grid

export default function (component) {
  return mountOnce(component, grids, parent => new Grid(parent));
}

class Grid {
  constructor(parent) {
    this.root = element("figure", "decoded-grid", parent);
    this.tiles = new TileCanvas(this.root, "tiles");
    const below = element("figcaption", "", this.root);
    this.caption = element("span", "caption", below);
    this.save = element("button", "save", below);
    this.save.textContent = "PNG";
    this.save.title = "Save this picture as a PNG file";
    this.save.addEventListener("click", () => downloadPng(this.tiles.canvas, this.name));
  }

  destroy() {
    this.root.remove();
  }

  async update(data) {
    const token = this.token = {};
    this.key = data.key;
    this.name = data.download;
    this.caption.textContent = data.caption || "";
    let decoder, latents;
    try {
      [decoder, latents] = await Promise.all([loadDecoder(data.decoder), loadFloats(data.latents)]);
    } catch (error) {
      this.caption.textContent = `Could not decode: ${error.message}`;
      return;
    }
    if (token !== this.token) return;  // newer data arrived meanwhile
    const size = decoder.channels * decoder.height * decoder.width;
    this.decoded = new Float32Array(data.count * size);  // the float decodes, before the canvas rounds them
    this.tiles.layout(decoder, data.count, data.nrow, data.padding, data.width);
    for (let i = 0; i < data.count; i++) {
      const pixels = decoder.decode(latents.subarray(i * data.dim, (i + 1) * data.dim));
      this.decoded.set(pixels, i * size);
      this.tiles.tile(i, pixels);
    }
    this.tiles.show();
    this.latents = latents;
    vaeLab.components[data.key] = this;
  }
}
