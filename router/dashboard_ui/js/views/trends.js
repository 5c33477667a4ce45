// Trends: requests, latency, tokens per second and errors per hour, over 24 hours to 7 days.

import { el, num, ms, pct } from "../dom.js";
import { get } from "../api.js";
import { header, notice, select, stat, stats } from "../ui.js";
import { timeChart } from "../charts.js";

const RANGES = [["24", "24 hours"], ["48", "2 days"], ["72", "3 days"], ["168", "7 days"]];
let hours = "24";

export default {
  title: "Trends",
  async render(root, { rerender }) {
    const data = await get(`/dashboard/api/trends?hours=${hours}`);
    const buckets = data.buckets || [];
    const range = select("Range", RANGES, hours, (value) => { hours = value; rerender(); });
    root.append(header("Trends", "Traffic through the router, hour by hour.", range));
    const total = sum(buckets, "requests");
    const errors = sum(buckets, "errors");
    const tokens = sum(buckets, "completion_tokens");
    const withLatency = buckets.filter((b) => b.avg_latency_ms !== null);
    const avg = withLatency.length
      ? withLatency.reduce((a, b) => a + b.avg_latency_ms * b.completed, 0) / Math.max(1, sum(withLatency, "completed"))
      : null;
    const p95 = percentileOf(buckets.map((b) => b.p95_latency_ms).filter((v) => v !== null && v !== undefined));
    root.append(stats(
      stat("requests", num(total), `in the last ${RANGES.find(([h]) => h === hours)[1]}`),
      stat("average latency", ms(avg)),
      stat("p95 latency", ms(p95 ?? null), "highest hourly p95"),
      stat("tokens generated", num(tokens)),
      stat("errors", num(errors), total ? pct(errors / total) : null),
    ));
    if (!total) {
      root.append(notice("No requests in this range yet. Send one through the router "
        + "(for example: curl http://<router>:11435/api/chat -d '{\"model\":\"…\",\"messages\":[…]}') and it shows here.", "info"));
    }
    const times = buckets.map((b) => b.hour);
    const grid = el("div", { class: "charts" });
    grid.append(
      timeChart("Requests per hour", times, [{ label: "requests", values: buckets.map((b) => b.requests) }]),
      timeChart("Latency", times, [
        { label: "average", values: buckets.map((b) => b.avg_latency_ms) },
        { label: "p95", values: buckets.map((b) => b.p95_latency_ms ?? null) },
      ], { unit: " ms" }),
      timeChart("Tokens per second", times, [
        { label: "tokens/s (generation)", values: buckets.map((b) => b.tokens_per_s ?? null) },
      ]),
      timeChart("Errors per hour", times, [{ label: "errors", values: buckets.map((b) => b.errors), colour: "#ef4444" }]),
    );
    root.append(grid);
  },
};

function sum(rows, key) {
  return rows.reduce((a, r) => a + (r[key] || 0), 0);
}

function percentileOf(values) {
  return values.length ? Math.max(...values) : null;
}
