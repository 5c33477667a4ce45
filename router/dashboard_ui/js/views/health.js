// Health: the score, the vitals, every finding with its severity and fix, and the checks that
// passed, so a reader sees what was looked at.

import { el, num, ms, pct, when } from "../dom.js";
import { get } from "../api.js";
import { badge, header, notice, section, stat, stats } from "../ui.js";

export default {
  title: "Health",
  async render(root) {
    const report = await get("/dashboard/api/health");
    const v = report.vitals || {};
    root.append(header("Health", `Checked ${when(report.checked_at)} over the last 24 hours.`));
    root.append(stats(
      stat("health score", `${num(report.score)} / 100`, report.status),
      stat("nodes online", `${num(v.nodes_online)} / ${num(v.nodes_total)}`,
        v.nodes_offline ? `${num(v.nodes_offline)} offline` : null),
      stat("requests (24 h)", num(v.requests_24h), `error rate ${pct(v.error_rate)}`),
      stat("retries / timeouts", `${num(v.retries_24h)} / ${num(v.timeouts_24h)}`),
      stat("cold loads", num(v.cold_loads_24h)),
      stat("time to first token", ms(v.ttft_p50_ms), "median"),
    ));
    const findings = report.checks || [];
    const findingsPanel = section(`Findings (${findings.length})`);
    if (!findings.length) findingsPanel.append(notice("Nothing to fix: every check passed.", "ok"));
    for (const c of findings) {
      findingsPanel.append(el("article", { class: "finding", "data-state": c.severity, "data-kind": c.check_id },
        el("header", { class: "card-head" },
          el("h3", { text: c.title }), badge(c.severity, c.severity)),
        c.node_id ? el("p", { class: "meta", text: `node ${c.node_id}` }) : null,
        el("p", { text: c.description }),
        c.fix ? el("p", { class: "fix" }, el("strong", { text: "Fix: " }), c.fix) : null));
    }
    root.append(findingsPanel);
    const passed = report.passed || [];
    if (passed.length) {
      root.append(section(`Passed (${passed.length})`,
        el("ul", { class: "passed" }, ...passed.map((p) =>
          el("li", { "data-kind": p.check_id }, badge("pass", "ok"), el("span", { text: p.title }))))));
    }
  },
};
