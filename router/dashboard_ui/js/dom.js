// Building the page from data: elements and text nodes only, never HTML strings.
// Every value that came from the fleet (node ids, model names, tags, errors) reaches the page
// through textContent or a text node, so markup in a name shows as the characters it is.

const SAFE_ATTRS = new Set([
  "id", "class", "href", "type", "name", "value", "for", "role", "title", "min", "max", "step",
  "placeholder", "autocomplete", "inputmode", "tabindex", "colspan", "scope", "datetime",
  "aria-label", "aria-live", "aria-current", "aria-expanded", "aria-controls", "aria-pressed",
  "aria-checked", "aria-describedby", "aria-valuenow", "aria-valuemin", "aria-valuemax",
  "data-label", "data-view", "data-state", "data-kind", "data-node", "data-model", "data-testid",
]);

/** el("tag", {class, text, on: {click}, checked, ...attrs}, ...children) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = String(value);
    else if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else if (key === "checked" || key === "disabled" || key === "hidden" || key === "selected"
             || key === "required" || key === "open") node[key] = Boolean(value);
    else if (SAFE_ATTRS.has(key)) node.setAttribute(key, value === true ? "" : String(value));
    else throw new Error(`attribute ${key} is not allowed`);
  }
  append(node, ...children);
  return node;
}

export function append(parent, ...children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

// -- formatting --------------------------------------------------------------------------------

const DASH = "–";

export function num(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return DASH;
  return Number(value).toLocaleString("en", {
    maximumFractionDigits: digits, minimumFractionDigits: 0,
  });
}

export function pct(fraction, digits = 1) {
  if (fraction === null || fraction === undefined) return DASH;
  return `${num(fraction * 100, digits)}%`;
}

export function ms(value) {
  if (value === null || value === undefined) return DASH;
  return value >= 10_000 ? `${num(value / 1000, 1)} s` : `${num(value, value < 10 ? 1 : 0)} ms`;
}

export function gb(value) {
  if (value === null || value === undefined) return DASH;
  return value >= 100 ? `${num(value, 0)} GB` : `${num(value, value < 1 ? 2 : 1)} GB`;
}

/** A size in GB from an object carrying `<base>_bytes` or `<base>_gb`. */
export function gbOf(obj, base) {
  if (!obj) return null;
  if (typeof obj[`${base}_bytes`] === "number") return obj[`${base}_bytes`] / 1e9;
  if (typeof obj[`${base}_gb`] === "number") return obj[`${base}_gb`];
  if (base === "size" && typeof obj.size === "number") return obj.size / 1e9;
  return null;
}

export function when(epochSeconds) {
  if (!epochSeconds) return DASH;
  const d = new Date(epochSeconds * 1000);
  return d.toLocaleString("en-GB", {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export function ago(seconds) {
  if (seconds === null || seconds === undefined) return DASH;
  if (seconds < 60) return `${num(seconds, 0)} s ago`;
  if (seconds < 3600) return `${num(seconds / 60, 0)} min ago`;
  if (seconds < 86400) return `${num(seconds / 3600, 1)} h ago`;
  return `${num(seconds / 86400, 1)} days ago`;
}
