// Recommendations: per node, which models to hold and which could go, each with a one-click
// pull or delete that first shows the size and the free disk before and after, and asks.

import { el, clear, gb, num } from "../dom.js";
import { get, post } from "../api.js";
import { badge, bar, confirm, header, notice, refusal, section, table } from "../ui.js";

let flash = null; // the outcome of the last pull or delete, shown again after the refresh

export default {
  title: "Recommendations",
  async render(root, { rerender, signal }) {
    const [report, disks] = await Promise.all([
      get("/dashboard/api/recommendations"), get("/dashboard/api/model-management"),
    ]);
    root.append(header("Recommendations", "What each node should hold for the traffic it sees, and what could go."));
    const nodes = report.nodes || [];
    if (!nodes.length) {
      root.append(notice("No online node to advise on. Recommendations appear once a node has joined.", "info"));
      return;
    }
    const byNode = Object.fromEntries((disks.nodes || []).map((n) => [n.node_id, n]));
    const status = el("div", { class: "action-status", "aria-live": "polite" }, flash);
    flash = null;
    root.append(status);
    const act = { status, rerender, signal };
    for (const node of nodes) root.append(nodeSection(node, byNode[node.node_id] || {}, act));
  },
};

function nodeSection(node, disk, act) {
  const freeGb = node.disk_free_gb ?? disk.disk_free_gb;
  const panel = section(node.node_id);
  panel.setAttribute("data-node", node.node_id);
  panel.append(el("p", { class: "meta", text: `${gb(node.memory_gb)} memory (${gb(node.usable_gb)} usable for models) · ${gb(freeGb)} free on disk` }));
  if (disk.disk_total_gb) panel.append(bar("Disk", 1 - freeGb / disk.disk_total_gb, `${gb(freeGb)} free of ${gb(disk.disk_total_gb)}`));
  const recommended = node.recommended || [];
  panel.append(el("h3", { text: "Recommended" }));
  if (!recommended.length) panel.append(notice("Nothing fits this node's memory.", "info"));
  else panel.append(table([
    { label: "Model", value: (r) => el("span", { class: "model-name", text: r.model }) },
    { label: "For", value: (r) => (r.roles || [r.category]).join(", ") },
    { label: "Download", num: true, value: (r) => gb(r.download_gb ?? r.size_gb) },
    { label: "In memory", num: true, value: (r) => gb(r.memory_gb) },
    { label: "Speed", num: true, value: (r) => r.est_tokens_per_s ? `~${num(r.est_tokens_per_s, 0)} tok/s` : "–" },
    { label: "Why", value: (r) => el("span", { class: "why", text: r.reason }) },
    { label: "", value: (r) => r.loaded ? badge("loaded", "online") : r.already_installed ? badge("on disk", "ok")
      : el("button", { type: "button", class: "primary", text: "Pull", "aria-label": `Pull ${r.model} onto ${node.node_id}`, "data-model": r.model,
        on: { click: () => pull(node.node_id, r, freeGb, act) } }) },
  ], recommended));
  const removable = node.removable || [];
  panel.append(el("h3", { text: "Could go" }));
  if (!removable.length) panel.append(el("p", { class: "hint", text: "Nothing to remove: every model here is used or recommended." }));
  else panel.append(table([
    { label: "Model", value: (r) => el("span", { class: "model-name", text: r.model }) },
    { label: "Size", num: true, value: (r) => gb(r.size_gb) },
    { label: "Why", value: (r) => el("span", { class: "why", text: r.reason }) },
    { label: "", value: (r) => el("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${r.model} from ${node.node_id}`, "data-model": r.model,
      on: { click: () => remove(node.node_id, r.model, r.size_gb, freeGb, act) } }) },
  ], removable));
  const models = disk.models || [];
  if (models.length) {
    panel.append(el("details", { class: "on-disk" },
      el("summary", { text: `On disk (${models.length} models, ${gb(disk.models_total_gb)})` }),
      table([
        { label: "Model", value: (m) => el("span", { class: "model-name", text: m.name }) },
        { label: "Size", num: true, value: (m) => gb(m.size_gb) },
        { label: "Requests (30 d)", num: true, value: (m) => num(m.request_count) },
        { label: "State", value: (m) => (m.loaded ? badge("loaded", "online") : "") },
        { label: "", value: (m) => el("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${m.name} from ${node.node_id}`, "data-model": m.name,
          on: { click: () => remove(node.node_id, m.name, m.size_gb, freeGb, act) } }) },
      ], models)));
  }
  return panel;
}

async function pull(nodeId, rec, freeGb, act) {
  let plan = null;
  try {
    plan = await post("/dashboard/api/pulls/plan", { model: rec.model, node_id: nodeId });
  } catch { /* an older router: fall back to the recommendation's own figures */ }
  const size = plan ? plan.download_bytes / 1e9 : rec.download_gb ?? rec.size_gb;
  const before = plan ? plan.disk_free_bytes / 1e9 : freeGb;
  const after = plan ? plan.disk_free_after_bytes / 1e9 : freeGb - size;
  const lines = [
    `Download: about ${gb(size)}.`,
    `Free disk on ${nodeId}: ${gb(before)} now, about ${gb(after)} after.`,
    rec.reason,
  ];
  if (plan && !plan.fits) lines.push(`The router expects this to fail: ${plan.reason}`);
  const ok = await confirm(`Pull ${rec.model} onto ${nodeId}?`, lines, "Pull");
  if (!ok) return;
  let job;
  try {
    job = await post("/dashboard/api/pulls", { model: rec.model, node_id: nodeId });
  } catch (error) {
    clear(act.status).append(refusal(error, `Pulling ${rec.model}`));
    return;
  }
  job = await follow(job, act);
  if (!job) return;
  if (job.state !== "done") {
    const why = job.error || `the pull ended ${job.state}`;
    clear(act.status).append(refusal({ status: 502, message: why }, `Pulling ${rec.model}`));
    return;
  }
  flash = notice(`${rec.model} is now on ${nodeId}.`, "ok");
  clear(act.status).append(flash);
  await settle(() => onNode(nodeId, rec.model, true), act.signal);
  act.rerender();
}

/** Show a pull job's progress until it ends (or the view is left); the ended job. */
async function follow(job, act) {
  const cancel = el("button", { type: "button", text: "Cancel pull", on: { click: async () => {
    try { await post(`/dashboard/api/pulls/${job.id}/cancel`); } catch (error) { act.status.append(refusal(error, "Cancelling the pull")); }
  } } });
  for (let i = 0; i < 7200 && !act.signal.aborted; i++) {
    if (job.state && job.state !== "running") return job;
    const pct = (job.percent ?? 0) / 100;
    const rate = job.rate_bytes_per_s ? ` · ${gb(job.rate_bytes_per_s / 1e9)}/s` : "";
    const eta = job.eta_s ? ` · about ${num(job.eta_s, 0)} s left` : "";
    clear(act.status).append(el("div", { class: "notice", "data-kind": "info", "data-testid": "pull-progress" },
      el("p", { text: `Pulling ${job.model} onto ${job.node_id}: ${job.status || "starting"}` }),
      bar("Progress", pct, `${num(pct * 100, 0)}%${rate}${eta}`), cancel));
    await new Promise((resolve) => setTimeout(resolve, 500));
    try { job = await get(`/dashboard/api/pulls/${job.id}`); } catch (error) {
      clear(act.status).append(refusal(error, "Following the pull"));
      return null;
    }
  }
  return null;
}

async function remove(nodeId, model, sizeGb, freeGb, act) {
  const ok = await confirm(`Delete ${model} from ${nodeId}?`, [
    `This frees about ${gb(sizeGb)} on ${nodeId}: ${gb(freeGb)} free now, about ${gb(freeGb + sizeGb)} after.`,
    "The model has to be downloaded again to use it on this node.",
  ], "Delete");
  if (!ok) return;
  try {
    await post("/dashboard/api/delete", { model, node_id: nodeId });
  } catch (error) {
    clear(act.status).append(refusal(error, `Deleting ${model}`));
    return;
  }
  flash = notice(`${model} was deleted from ${nodeId}.`, "ok");
  clear(act.status).append(flash);
  await settle(() => onNode(nodeId, model, false), act.signal);
  act.rerender();
}

async function onNode(nodeId, model, wanted) {
  const data = await get("/dashboard/api/model-management");
  const node = (data.nodes || []).find((n) => n.node_id === nodeId);
  return Boolean(node) && (node.models || []).some((m) => m.name === model) === wanted;
}

/** Wait (a few seconds at most) for the next heartbeat to show the change. */
async function settle(check, signal) {
  for (let i = 0; i < 20 && !signal.aborted; i++) {
    try { if (await check()) return; } catch { return; }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
