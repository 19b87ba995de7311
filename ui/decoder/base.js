// What every browser component of the app shares (the decoders' and the drawing pad): one instance per element
// across Streamlit's calls, the one test hook (window.vaeLab.components), DOM helpers, the released point.

export const vaeLab = window.vaeLab = window.vaeLab || {};  // shared by the modules of all components on a page
vaeLab.components = vaeLab.components || {};  // component key -> its live instance, for the tests and benchmarks

// Streamlit calls a component's default export again with each rerun's data: one instance per parentElement,
// created by make(parentElement, data) and given update(data, component). The instance is the hook's entry under
// data.key. Streamlit runs a call's cleanup at once when newer data came while the module loaded, and the newer
// call may come later still: only a cleanup once the element has left the page removes the instance (removing it
// on a superseded cleanup made a new one mid key storm, and the keys after it went nowhere: the focus was gone).
export function mountOnce(component, instances, make) {
  const { data, parentElement } = component;
  let instance = instances.get(parentElement);
  if (!instance) {
    instance = make(parentElement, data);
    instances.set(parentElement, instance);
  }
  instance.key = data.key;
  vaeLab.components[data.key] = instance;
  instance.update(data, component);
  return () => {
    if (parentElement.isConnected || instances.get(parentElement) !== instance) return;
    instance.destroy();
    instances.delete(parentElement);
    if (vaeLab.components[instance.key] === instance) delete vaeLab.components[instance.key];
  };
}

// The indices of labels, class by class (0 first, each class's points in their order): points drawn in this order
// lie as the Latent map page's do, the 9s over the 4s (the pad drew them in test-set order, the 4s over the 9s on
// half the cloud, and lesson steps 4 and 5 go from one to the other). Made once per labels array.
const classOrders = new WeakMap();
export function byClass(labels) {
  if (!classOrders.has(labels)) {
    const order = Array.from(labels.keys());
    order.sort((a, b) => labels[a] - labels[b] || a - b);
    classOrders.set(labels, Uint32Array.from(order));
  }
  return classOrders.get(labels);
}

// The labels' colours named in legend (a div of class "legend"), drawn anew: a swatch and the class's name each.
export function fillLegend(legend, classes, palette) {
  legend.replaceChildren();
  (classes || []).forEach((name, i) => {
    const item = element("span", "item", legend);
    element("span", "swatch", item).style.background = palette[i % palette.length];
    item.append(name);
  });
}

// Call changed() when root's width changes (not at first sight): a view laid out once ran past its column's edge.
export function watchWidth(root, changed) {
  let width = null;
  const observer = new ResizeObserver(([entry]) => {
    const now = Math.round(entry.contentRect.width);
    if (width !== null && now !== width) changed();
    width = now;
  });
  observer.observe(root);
  return observer;
}

export function element(tag, className, parent) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (parent) parent.appendChild(node);
  return node;
}

// Append value to a list of samples (latencies, points sent), keeping the latest `keep`.
export function push(list, value, keep = 5000) {
  list.push(value);
  if (list.length > keep) list.shift();
}

// Send a released point to Python as the component's "release" state: a state (not a one-shot trigger, which a
// rerun interrupted by the next key press could drop) that changes with every release, even to the same point.
// Returns the release's number n; Python hands back the n it has applied (data.seen), see DecodingView.takes.
let releases = 0;
export function sendRelease(component, z) {
  component.setStateValue("release", { z: z.slice(), n: ++releases });
  return releases;
}

// Save a canvas as a PNG file, pixel for pixel (TileCanvas.save enlarges a decoded picture first).
export function downloadPng(canvas, name) {
  canvas.toBlob(blob => {
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }, "image/png");
}
