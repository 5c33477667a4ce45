// Benchmarks: start a run (models, duration, concurrency), watch its progress, cancel it, and
// compare past runs' throughput and latency percentiles.

import { el, clear, num, ms, when } from "../dom.js";
import { get, post } from "../api.js";
import { bar, header, notice, refusal, section, table } from "../ui.js";
import { timeChart } from "../charts.js";

export default {
  title: "Benchmarks",
  async render(root, { signal, rerender }) {
    const [list, fleet] = await Promise.all([get("/dashboard/api/benchmarks?limit=50"), get("/fleet/status")]);
    const runs = list.runs || [];
    root.append(header("Benchmarks", "Measure the fleet with real requests through the router."));
    const running = runs.find((r) => r.live && r.status === "running");
    const live = el("div", { "data-testid": "benchmark-live" });
    root.append(section("Run a benchmark", startForm(fleet, live, rerender, signal)), live);
    if (running) watch(running.id, live, signal, rerender);
    root.append(history(runs));
  },
};

function startForm(fleet, live, rerender, signal) {
  const names = [...new Set((fleet.nodes || []).filter((n) => n.status !== "offline")
    .flatMap((n) => (n.ollama?.models_available || []).map((m) => m.name)))].sort();
  if (!names.length) return notice("No online node has a model yet, so there is nothing to benchmark.", "info");
  const loaded = new Set((fleet.nodes || []).flatMap((n) => (n.ollama?.models_loaded || []).map((m) => m.name)));
  const boxes = names.map((name, i) => {
    const id = `bm-model-${i}`;
    return el("label", { class: "check", for: id },
      el("input", { type: "checkbox", id, value: name, checked: loaded.has(name) || (i === 0 && !loaded.size) }),
      el("span", { text: name }));
  });
  const duration = el("input", { id: "bm-duration", type: "number", min: "1", max: "600", value: "10", inputmode: "numeric" });
  const concurrency = el("input", { id: "bm-concurrency", type: "number", min: "1", max: "32", value: "2", inputmode: "numeric" });
  const result = el("div");
  const form = el("form", { class: "bench-form", on: { submit: async (event) => {
    event.preventDefault();
    const models = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    clear(result);
    if (!models.length) { result.append(notice("Pick at least one model.", "error")); return; }
    try {
      const run = await post("/dashboard/api/benchmarks/start", {
        models, duration_s: Number(duration.value), concurrency: Number(concurrency.value),
      });
      watch(run.run_id, live, signal, rerender);
    } catch (error) {
      result.append(refusal(error, "Starting the benchmark"));
    }
  } } },
  el("fieldset", { class: "checks" }, el("legend", { text: "Models" }), ...boxes),
  el("div", { class: "row" },
    el("label", { class: "field", for: "bm-duration" }, el("span", { text: "Duration (s)" }), duration),
    el("label", { class: "field", for: "bm-concurrency" }, el("span", { text: "Concurrency" }), concurrency),
    el("button", { type: "submit", class: "primary", text: "Start" })),
  result);
  return form;
}

async function watch(runId, live, signal, rerender) {
  const cancel = el("button", { type: "button", text: "Cancel run", on: { click: async () => {
    try { await post(`/dashboard/api/benchmarks/${runId}/cancel`); } catch (error) { live.append(refusal(error, "Cancelling")); }
  } } });
  for (let i = 0; i < 1200 && !signal?.aborted; i++) {
    let run;
    try { run = await get(`/dashboard/api/benchmarks/${runId}`); } catch (error) {
      clear(live).append(refusal(error, "Reading the run")); return;
    }
    const p = run.live || { progress: 1, status: run.status, requests: 0, errors: 0 };
    clear(live).append(section(`Run ${runId}: ${p.status}`,
      bar("Progress", p.progress, `${num(p.progress * 100, 0)}% · ${num(p.requests)} requests · ${num(p.errors)} errors`),
      p.status === "running" ? cancel : null));
    if (p.status !== "running" && run.status !== "running") { rerender(); return; }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function history(runs) {
  const done = runs.filter((r) => r.results && r.results.overall);
  if (!runs.length) return notice("No benchmark has run yet. Start one above: it sends short chats "
    + "through the router and records throughput and latency percentiles.", "info");
  const panel = section("History", table([
    { label: "Run", value: (r) => `#${r.id}` },
    { label: "Started", value: (r) => when(r.started_at) },
    { label: "Status", value: (r) => r.status },
    { label: "Models", value: (r) => (r.params?.models || []).join(", ") },
    { label: "Concurrency", num: true, value: (r) => num(r.params?.concurrency) },
    { label: "Requests/s", num: true, value: (r) => num(r.results?.overall?.requests_per_s, 2) },
    { label: "Tokens/s", num: true, value: (r) => num(r.results?.overall?.tokens_per_s, 1) },
    { label: "Latency p50", num: true, value: (r) => ms(r.results?.overall?.latency_ms?.p50) },
    { label: "p95", num: true, value: (r) => ms(r.results?.overall?.latency_ms?.p95) },
    { label: "p99", num: true, value: (r) => ms(r.results?.overall?.latency_ms?.p99) },
  ], runs));
  if (done.length > 1) {
    const ordered = [...done].sort((a, b) => a.started_at - b.started_at);
    panel.append(el("div", { class: "charts" },
      timeChart("Throughput per run", ordered.map((r) => r.started_at), [
        { label: "tokens/s", values: ordered.map((r) => r.results.overall.tokens_per_s) }]),
      timeChart("Latency per run", ordered.map((r) => r.started_at), [
        { label: "p50", values: ordered.map((r) => r.results.overall.latency_ms?.p50 ?? null) },
        { label: "p95", values: ordered.map((r) => r.results.overall.latency_ms?.p95 ?? null) },
        { label: "p99", values: ordered.map((r) => r.results.overall.latency_ms?.p99 ?? null) }], { unit: " ms" })));
  }
  return panel;
}
