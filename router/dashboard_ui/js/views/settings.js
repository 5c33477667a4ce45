// Settings: the runtime toggles as switches (saved by POST /dashboard/api/settings and kept
// across restarts), the read-only configuration, and every node's agent and Ollama versions.

import { el, clear } from "../dom.js";
import { get, post, saveKey, storedKey } from "../api.js";
import { badge, header, notice, refusal, section, table } from "../ui.js";

const NUMBERS = {
  reaper_timeout_s: { label: "Reaper timeout (seconds)", min: 1, max: 86400, step: 1 },
  max_retries: { label: "Retries per request", min: 0, max: 10, step: 1 },
  trace_retention_days: { label: "Keep traces for (days)", min: 1, max: 3650, step: 1 },
};

export default {
  title: "Settings",
  async render(root) {
    const data = await get("/dashboard/api/settings");
    root.append(header("Settings", `herd ${data.router_version}`));
    const status = el("div", { class: "action-status", "aria-live": "polite" });
    const toggles = data.toggles || {};
    const descriptions = data.toggle_descriptions || {};
    const list = el("div", { class: "toggles" });
    for (const [key, value] of Object.entries(toggles)) {
      list.append(typeof value === "boolean"
        ? toggle(key, value, descriptions[key], status)
        : numberField(key, value, descriptions[key], status));
    }
    root.append(section("Routing", el("p", { class: "hint", text: "Changes apply at once and are kept across restarts." }), list, status));
    const config = data.config || {};
    root.append(section("Configuration (read only)",
      el("p", { class: "hint", text: "Set by flags or HERD_* environment variables when the router starts." }),
      el("dl", { class: "config" }, ...Object.entries(config).map(([k, v]) =>
        el("div", {}, el("dt", { text: k }), el("dd", { text: show(v) }))))));
    const nodes = data.nodes || [];
    root.append(section("Nodes", nodes.length ? table([
      { label: "Node", value: (n) => n.node_id },
      { label: "Status", value: (n) => badge(n.status, n.status) },
      { label: "Agent", value: (n) => n.agent_version || "–" },
      { label: "Ollama", value: (n) => n.ollama_version || "–" },
    ], nodes) : notice("No node has joined yet.", "info")));
    root.append(section("This browser", keyControls()));
  },
};

function toggle(key, value, description, status) {
  const id = `toggle-${key}`;
  const input = el("input", { type: "checkbox", id, role: "switch", checked: value, "aria-checked": String(value),
    "aria-describedby": `${id}-help`, on: { change: async () => {
      input.disabled = true;
      const ok = await save({ [key]: input.checked }, status, key);
      if (!ok) input.checked = !input.checked;
      input.setAttribute("aria-checked", String(input.checked));
      input.disabled = false;
    } } });
  return el("div", { class: "toggle" },
    el("label", { for: id }, input, el("span", { class: "switch" }), el("span", { class: "toggle-name", text: words(key) })),
    el("p", { class: "hint", id: `${id}-help`, text: description || "" }));
}

function numberField(key, value, description, status) {
  const spec = NUMBERS[key] || { label: words(key), min: 0, max: 1e9, step: 1 };
  const id = `setting-${key}`;
  const input = el("input", { type: "number", id, value: String(value), min: spec.min, max: spec.max, step: spec.step, inputmode: "numeric" });
  const form = el("form", { class: "number-setting", on: { submit: async (event) => {
    event.preventDefault();
    await save({ [key]: Number(input.value) }, status, key);
  } } },
  el("label", { for: id, text: spec.label }), input,
  el("button", { type: "submit", text: "Save" }),
  description ? el("p", { class: "hint", text: description }) : null);
  return form;
}

async function save(change, status, key) {
  try {
    await post("/dashboard/api/settings", change);
    clear(status).append(notice(`Saved: ${words(key)} is now ${show(Object.values(change)[0])}.`, "ok"));
    return true;
  } catch (error) {
    clear(status).append(refusal(error, `Changing ${words(key)}`));
    return false;
  }
}

function keyControls() {
  const has = Boolean(storedKey());
  const out = el("div", {},
    el("p", { text: has ? "A key is kept in this browser and sent with every call." : "No key is kept in this browser." }));
  if (has) out.append(el("button", { type: "button", text: "Forget the key", on: { click: () => {
    saveKey("");
    clear(out).append(el("p", { text: "The key was forgotten. The next call that needs one asks again." }));
  } } }));
  return out;
}

function words(key) {
  return key.replace(/_s$/, "").replace(/_/g, " ");
}

function show(value) {
  if (value === null || value === undefined) return "–";
  if (Array.isArray(value)) return value.length ? value.join(", ") : "(none)";
  return String(value);
}
