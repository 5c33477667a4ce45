// Model insights: per model, latency and time to first token percentiles, tokens per second,
// share of requests, errors, and the nodes that served it.

import { el, num, ms, pct } from "../dom.js";
import { get } from "../api.js";
import { header, notice, section, select, table } from "../ui.js";
import { go } from "../app.js";

const RANGES = [["1", "24 hours"], ["7", "7 days"], ["30", "30 days"]];
let days = "7";

export default {
  title: "Models",
  async render(root, { rerender }) {
    const data = await get(`/dashboard/api/models?days=${days}`);
    const models = data.models || [];
    root.append(header("Models", "How each model performs, and where it ran.",
      select("Range", RANGES, days, (value) => { days = value; rerender(); })));
    if (!models.length) {
      root.append(notice("No requests in this range yet, so there is nothing to compare. "
        + "Models appear here after their first request through the router.", "info"));
      return;
    }
    const total = models.reduce((a, m) => a + m.requests, 0);
    root.append(section("All models", table([
      { label: "Model", value: (m) => el("button", { type: "button", class: "link", text: m.model,
        title: "Show this model's requests", on: { click: () => go("requests", `?model=${encodeURIComponent(m.model)}`) } }) },
      { label: "Requests", num: true, value: (m) => num(m.requests) },
      { label: "Share", num: true, value: (m) => pct(total ? m.requests / total : 0) },
      { label: "Latency p50", num: true, value: (m) => ms(m.latency_ms?.p50) },
      { label: "Latency p95", num: true, value: (m) => ms(m.latency_ms?.p95) },
      { label: "TTFT p50", num: true, value: (m) => ms(m.ttft_ms?.p50) },
      { label: "Tokens/s", num: true, value: (m) => num(tokensPerSecond(m), 1) },
      { label: "Errors", num: true, value: (m) => `${num(m.errors)} (${pct(m.error_rate)})` },
      { label: "Nodes", value: (m) => (m.nodes || []).map((n) => n.node_id).filter(Boolean).join(", ") || "–" },
    ], rows(models))));
    for (const model of models) {
      root.append(section(`${model.model} by node`, table([
        { label: "Node", value: (n) => n.node_id || "(not routed)" },
        { label: "Requests", num: true, value: (n) => num(n.requests) },
        { label: "Avg latency", num: true, value: (n) => ms(n.avg_latency_ms) },
        { label: "Tokens/s", num: true, value: (n) => num(n.tokens_per_s, 1) },
        { label: "Tokens out", num: true, value: (n) => num(n.completion_tokens) },
        { label: "Errors", num: true, value: (n) => `${num(n.errors)} (${pct(n.error_rate)})` },
      ], model.nodes || [])));
    }
  },
};

function rows(models) {
  return [...models].sort((a, b) => b.requests - a.requests);
}

/** The request-weighted mean of the nodes' generation speeds. */
function tokensPerSecond(model) {
  const nodes = (model.nodes || []).filter((n) => n.tokens_per_s);
  const weight = nodes.reduce((a, n) => a + n.completed, 0);
  if (!weight) return null;
  return nodes.reduce((a, n) => a + n.tokens_per_s * n.completed, 0) / weight;
}
