// Fleet overview: one card per node, live from /dashboard/events (a snapshot per change or
// every couple of seconds); a node going offline or a request in flight shows on the next one.

import { el, clear, gb, gbOf, num, ago } from "../dom.js";
import { stream, ApiError } from "../api.js";
import { badge, bar, header, notice, stat, stats } from "../ui.js";
import { setLive } from "../app.js";

const RETRY_MS = [1000, 2000, 4000, 8000];

export default {
  title: "Fleet",
  async render(root, { signal }) {
    const summary = el("div", { class: "fleet-summary", "data-testid": "fleet-summary" });
    const cards = el("div", { class: "cards", "data-testid": "nodes" });
    const status = el("div", { class: "fleet-status" });
    root.append(header("Fleet", "Every node, live."), status, summary, cards);
    const first = new Promise((resolve, reject) => {
      let failures = 0;
      const connect = async () => {
        while (!signal.aborted) {
          try {
            setLive("connecting", "connecting");
            await stream("/dashboard/events", (name, data) => {
              if (name !== "snapshot") return;
              failures = 0;
              clear(status);
              setLive("live", "live");
              draw(summary, cards, data);
              resolve();
            }, signal);
          } catch (error) {
            if (error instanceof ApiError && error.refused) { reject(error); return; }
            if (failures === 0) resolve();
            setLive("offline", "error");
            clear(status).append(notice(
              "The router stopped answering; the cards below show the last state seen. "
              + "Reconnecting…", "error"));
          }
          if (signal.aborted) return;
          await pause(RETRY_MS[Math.min(failures++, RETRY_MS.length - 1)], signal);
        }
      };
      connect();
    });
    await first;
  },
};

function pause(delay, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, delay);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

function draw(summary, cards, data) {
  const f = data.fleet || {};
  clear(summary).append(stats(
    stat("nodes online", `${num(f.nodes_online)} / ${num(f.nodes_total)}`,
      f.nodes_offline ? `${num(f.nodes_offline)} offline` : f.nodes_degraded ? `${num(f.nodes_degraded)} degraded` : null),
    stat("models loaded", num(f.models_loaded), `${num(f.models_available)} on disk`),
    stat("requests active", num(f.requests_active)),
    stat("requests waiting", num(f.requests_queued)),
  ));
  const nodes = data.nodes || [];
  clear(cards);
  if (!nodes.length) {
    cards.append(notice("No node has joined yet. Start herd-node on each machine running Ollama "
      + "(it finds this router over mDNS, or pass --router-url); nodes appear here within a few seconds.", "info"));
    return;
  }
  const queues = data.queues || {};
  for (const node of nodes) cards.append(card(node, queues));
}

function card(node, queues) {
  const hw = node.hardware || {};
  const mem = node.memory || {};
  const disk = node.disk || {};
  const cpu = node.cpu || {};
  const ollama = node.ollama || {};
  const memTotal = gbOf(mem, "total");
  const memUsed = gbOf(mem, "used");
  const diskTotal = gbOf(disk, "total");
  const diskFree = gbOf(disk, "free");
  const diskUsed = diskTotal !== null && diskFree !== null ? diskTotal - diskFree : gbOf(disk, "used");
  const state = node.status !== "offline" && node.draining ? "draining" : node.status;
  const own = Object.entries(queues).filter(([key]) => key.startsWith(`${node.node_id}:`));
  return el("article", { class: "card node", "data-node": node.node_id, "data-state": state, "aria-label": `node ${node.node_id}` },
    el("header", { class: "card-head" },
      el("h2", { class: "node-id", text: node.node_id }),
      badge(state, state)),
    el("p", { class: "meta", text: [hw.platform, hw.arch, hw.cpu_model, hw.gpu].filter(Boolean).join(" · ") || "hardware unknown" }),
    el("p", { class: "meta", text: `heartbeat ${ago(node.seconds_since_heartbeat)} · Ollama ${ollama.version || "?"}${ollama.reachable === false ? " (unreachable)" : ""}` }),
    bar("CPU", (cpu.utilization_pct || 0) / 100, `${num(cpu.utilization_pct, 0)}% of ${num(cpu.cores)} cores`),
    bar("Memory", memTotal ? memUsed / memTotal : 0, `${gb(memUsed)} of ${gb(memTotal)}`),
    bar("Disk", diskTotal ? diskUsed / diskTotal : 0, `${gb(diskFree)} free`),
    el("dl", { class: "facts" },
      fact("pressure", mem.pressure || "unknown"),
      fact("thermal", hw.thermal_state || "unknown"),
      fact("active", num(node.requests_active))),
    loaded(ollama.models_loaded || []),
    queueList(node.node_id, own));
}

function fact(label, value) {
  return el("div", {}, el("dt", { text: label }), el("dd", { text: value }));
}

function loaded(models) {
  if (!models.length) return el("p", { class: "hint", text: "No model loaded." });
  return el("ul", { class: "models", "aria-label": "loaded models" }, ...models.map((m) => {
    const d = m.details || {};
    const bits = [gb(gbOf(m, "size")), m.context_length ? `ctx ${num(m.context_length)}` : null, d.quantization_level].filter(Boolean);
    return el("li", { "data-model": m.name },
      el("span", { class: "model-name", text: m.name }),
      el("span", { class: "model-meta", text: bits.join(" · ") }));
  }));
}

function queueList(nodeId, entries) {
  const busy = entries.filter(([, q]) => q.in_flight || q.pending);
  if (!busy.length) return null;
  return el("ul", { class: "queues", "aria-label": "queues" }, ...busy.map(([key, q]) =>
    el("li", { "data-model": key.slice(nodeId.length + 1) },
      el("span", { class: "model-name", text: key.slice(nodeId.length + 1) }),
      el("span", { class: "queue-counts", text: `${num(q.in_flight)} in flight · ${num(q.pending)} waiting` }))));
}
