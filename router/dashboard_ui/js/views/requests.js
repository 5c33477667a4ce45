// Requests: the recent traces, filtered by model, node, status and tag, and for each one the
// routing decision: the chosen node's score by signal, the other candidates and why they lost,
// retries and fallbacks. Shows whatever kind and API the traces carry.

import { el, clear, num, ms, when } from "../dom.js";
import { get } from "../api.js";
import { badge, header, notice, table } from "../ui.js";

const STATUSES = ["", "completed", "failed", "retried", "client_disconnected", "incomplete", "rejected"];
const FIELDS = [["model", "Model"], ["node_id", "Node"], ["tag", "Tag"]];

export default {
  title: "Requests",
  async render(root, { rerender }) {
    const query = new URLSearchParams(location.search);
    const filters = Object.fromEntries(["model", "node_id", "status", "tag"].map((k) => [k, query.get(k) || ""]));
    const params = new URLSearchParams({ limit: "100" });
    for (const [k, v] of Object.entries(filters)) if (v) params.set(k, v);
    const data = await get(`/dashboard/api/traces?${params}`);
    const traces = data.traces || [];
    root.append(header("Requests", "The latest requests and why each went where it did."));
    root.append(filterForm(filters, rerender));
    const active = Object.values(filters).some(Boolean);
    if (!traces.length) {
      root.append(notice(active
        ? "No request matches these filters. Clear them to see every request."
        : "No request has gone through the router yet. Point a client at this router "
          + "(Ollama or OpenAI API, port 11435) and its requests show here.", "info"));
      return;
    }
    root.append(el("p", { class: "hint", text: `The latest ${num(traces.length)} requests${active ? " matching the filters" : ""}, newest first.` }));
    root.append(table([
      { label: "Time", value: (t) => when(t.timestamp) },
      { label: "Model", value: (t) => el("span", { class: "model-name", text: t.model }) },
      { label: "Node", value: (t) => t.node_id || "–" },
      { label: "Status", value: (t) => badge(t.status, t.status) },
      { label: "Kind", value: (t) => `${t.kind || "?"} · ${t.api || "?"}${t.stream ? " · stream" : ""}` },
      { label: "Latency", num: true, value: (t) => ms(t.latency_ms) },
      { label: "Tokens", num: true, value: (t) => t.completion_tokens === null || t.completion_tokens === undefined ? "–" : `${num(t.prompt_tokens)} → ${num(t.completion_tokens)}` },
      { label: "Tags", value: (t) => (t.tags || []).join(", ") || "–" },
      { label: "Decision", value: (t) => el("button", { type: "button", class: "link", "aria-expanded": "false", text: "Why?",
        on: { click: (event) => explain(event.currentTarget, t) } }) },
    ], traces));
  },
};

function filterForm(filters, rerender) {
  const inputs = {};
  const fields = FIELDS.map(([key, label]) => {
    inputs[key] = el("input", { id: `f-${key}`, name: key, value: filters[key], autocomplete: "off", placeholder: "any" });
    return el("label", { class: "field", for: `f-${key}` }, el("span", { text: label }), inputs[key]);
  });
  inputs.status = el("select", { id: "f-status", name: "status" },
    ...STATUSES.map((s) => el("option", { value: s, text: s || "any", selected: s === filters.status })));
  const apply = (event) => {
    event.preventDefault();
    const q = new URLSearchParams();
    for (const [k, input] of Object.entries(inputs)) if (input.value.trim()) q.set(k, input.value.trim());
    history.replaceState({}, "", `/dashboard/requests${q.size ? `?${q}` : ""}`);
    rerender();
  };
  return el("form", { class: "filters", role: "search", on: { submit: apply } },
    ...fields,
    el("label", { class: "field", for: "f-status" }, el("span", { text: "Status" }), inputs.status),
    el("div", { class: "filter-actions" },
      el("button", { type: "submit", class: "primary", text: "Filter" }),
      el("button", { type: "button", text: "Clear", on: { click: (event) => {
        for (const input of Object.values(inputs)) input.value = "";
        apply(event);
      } } })));
}

function explain(button, trace) {
  const row = button.closest("tr");
  const open = row.nextElementSibling?.classList.contains("decision-row");
  if (open) {
    row.nextElementSibling.remove();
    button.setAttribute("aria-expanded", "false");
    return;
  }
  button.setAttribute("aria-expanded", "true");
  const cell = el("td", { colspan: String(row.children.length) }, decision(trace));
  row.after(el("tr", { class: "decision-row" }, cell));
}

function decision(t) {
  const box = el("div", { class: "decision" });
  const facts = [
    ["request id", t.request_id],
    ["asked for", t.original_model && t.original_model !== t.model ? `${t.original_model} (served as ${t.model})` : t.model],
    ["node", t.node_id || "none chosen"],
    ["score", t.score === null || t.score === undefined ? "–" : num(t.score, 2)],
    ["time to first token", ms(t.time_to_first_token_ms)],
    ["retries", num(t.retry_count)],
    ["fallback", t.fallback_used ? `yes${t.fallback_reason ? `: ${t.fallback_reason}` : ""}` : "no"],
    ["cold load", t.cold_load ? "yes" : "no"],
    ["context protected", t.context_protected ? "yes" : "no"],
    ["client", t.client_ip || "–"],
  ];
  if (t.http_status) facts.push(["HTTP status", String(t.http_status)]);
  box.append(el("dl", { class: "facts wide" }, ...facts.map(([k, v]) => el("div", {}, el("dt", { text: k }), el("dd", { text: v })))));
  if (t.error_message) box.append(notice(t.error_message, "error"));
  const breakdown = Object.entries(t.scores_breakdown || {});
  if (breakdown.length) {
    box.append(el("h4", { text: `Why ${t.node_id || "this node"}: score by signal` }), signals(breakdown));
  }
  const candidates = t.candidates || [];
  if (candidates.length) {
    box.append(el("h4", { text: "Every node weighed" }), table([
      { label: "Node", value: (c) => c.node_id },
      { label: "Outcome", value: (c) => badge(c.outcome || "–", c.outcome === "chosen" ? "completed" : c.outcome === "rejected" ? "rejected" : "ok") },
      { label: "Expected", num: true, value: (c) => (typeof c.estimate_s === "number" ? `${num(c.estimate_s, 2)} s` : "–") },
      { label: "Why", value: (c) => c.reason || Object.entries(c.breakdown || {}).map(([k, v]) => `${k} ${num(v, 2)}`).join(", ") || "–" },
    ], candidates));
  } else if (!t.node_id) {
    box.append(el("p", { class: "hint", text: "No node was chosen: the request was refused before routing (see the error above)." }));
  }
  return box;
}

function signals(entries) {
  const max = Math.max(1, ...entries.map(([, v]) => Math.abs(v)));
  return el("ul", { class: "signals" }, ...entries.map(([name, value]) => {
    const fill = el("span", { class: "signal-fill", "data-state": value < 0 ? "neg" : "pos" });
    fill.style.width = `${(Math.abs(value) / max * 100).toFixed(1)}%`;
    return el("li", {}, el("span", { class: "signal-name", text: name }),
      el("span", { class: "signal-bar" }, fill), el("span", { class: "signal-value", text: num(value, 2) }));
  }));
}
