// Shared pieces of every view: headings, stats, bars, tables that stack on a phone, notices,
// the confirmation dialog and the refusal message.

import { el, clear, append } from "./dom.js";

export function section(title, ...children) {
  return el("section", { class: "panel" }, el("h2", { text: title }), ...children);
}

export function header(title, subtitle, ...controls) {
  return el("div", { class: "view-head" },
    el("div", {}, el("h1", { text: title }), subtitle ? el("p", { class: "sub", text: subtitle }) : null),
    controls.length ? el("div", { class: "controls" }, ...controls) : null);
}

export function stat(label, value, hint) {
  return el("div", { class: "stat", "data-label": label },
    el("span", { class: "stat-value", text: value }),
    el("span", { class: "stat-label", text: label }),
    hint ? el("span", { class: "stat-hint", text: hint }) : null);
}

export function stats(...items) {
  return el("div", { class: "stats" }, ...items);
}

/** A labelled bar: fraction in [0, 1], coloured by level. */
export function bar(label, fraction, text) {
  const f = Math.max(0, Math.min(1, Number(fraction) || 0));
  const level = f >= 0.9 ? "high" : f >= 0.75 ? "mid" : "low";
  const fill = el("span", { class: "bar-fill", "data-state": level });
  fill.style.width = `${(f * 100).toFixed(1)}%`;
  return el("div", { class: "bar-row" },
    el("span", { class: "bar-label", text: label }),
    el("span", { class: "bar", role: "img", "aria-label": `${label}: ${text}` }, fill),
    el("span", { class: "bar-text", text }));
}

export function badge(text, state) {
  return el("span", { class: "badge", "data-state": state || text, text });
}

/** columns: [{label, value: row => string|Node, num?: bool}] */
export function table(columns, rows, { caption, onRow } = {}) {
  const head = el("tr", {}, ...columns.map((c) => el("th", { scope: "col", class: c.num ? "num" : null, text: c.label })));
  const body = el("tbody");
  for (const row of rows) {
    const tr = el("tr");
    for (const c of columns) {
      const value = c.value(row);
      tr.append(el("td", { "data-label": c.label, class: c.num ? "num" : null }, value));
    }
    if (onRow) onRow(tr, row);
    body.append(tr);
  }
  return el("table", { class: "grid" }, caption ? el("caption", { text: caption }) : null,
    el("thead", {}, head), body);
}

export function notice(text, kind = "info", ...more) {
  return el("div", { class: "notice", "data-kind": kind, role: kind === "error" ? "alert" : "status" },
    el("p", { text }), ...more);
}

/** Shows why the router refused or failed a change, in its own words. */
export function refusal(error, what) {
  const status = error.status || 0;
  let lead = `${what} failed`;
  if (status === 401) lead = `${what} was refused: a key is needed (401)`;
  else if (status === 403) lead = `${what} was refused (403)`;
  else if (status === 0) lead = `${what} failed: the router did not answer`;
  else lead = `${what} failed (${status})`;
  return el("div", { class: "notice refusal", "data-kind": "error", role: "alert", "data-testid": "refusal" },
    el("p", { class: "strong", text: lead }),
    el("p", { text: error.message || String(error) }));
}

export function showIn(container, node) {
  clear(container);
  append(container, node);
}

/** Ask for confirmation; lines are strings or nodes. Resolves true when confirmed. */
export function confirm(title, lines, confirmLabel = "Confirm") {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-yes").textContent = confirmLabel;
  const body = clear(document.getElementById("confirm-body"));
  for (const line of lines) body.append(line instanceof Node ? line : el("p", { text: line }));
  dialog.returnValue = "";
  dialog.showModal();
  document.getElementById("confirm-no").focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
  });
}

export function select(label, options, value, onChange) {
  const id = `sel-${label.toLowerCase().replace(/[^a-z]+/g, "-")}`;
  const s = el("select", { id, on: { change: (e) => onChange(e.target.value) } },
    ...options.map(([v, text]) => el("option", { value: v, text, selected: String(v) === String(value) })));
  return el("label", { class: "field", for: id }, el("span", { text: label }), s);
}
