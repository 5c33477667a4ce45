// Apps: traffic per tag (X-Herd-Tags, metadata.tags, OpenAI `user`): volume, latency, tokens,
// error rate, the models each used, and requests per day.

import { el, num, ms, pct } from "../dom.js";
import { get } from "../api.js";
import { header, notice, section, select, table } from "../ui.js";
import { timeChart } from "../charts.js";
import { go } from "../app.js";

const RANGES = [["1", "24 hours"], ["7", "7 days"], ["30", "30 days"]];
let days = "7";

export default {
  title: "Apps",
  async render(root, { rerender }) {
    const data = await get(`/dashboard/api/apps?days=${days}`);
    const apps = data.apps || [];
    root.append(header("Apps", "Traffic per tag: X-Herd-Tags, metadata.tags or the OpenAI user field.",
      select("Range", RANGES, days, (value) => { days = value; rerender(); })));
    if (!apps.length) {
      root.append(notice("No tagged requests in this range. Tag a client's requests with the header "
        + "X-Herd-Tags: app:notes (or metadata.tags, or OpenAI's user field) to see it here.", "info"));
      return;
    }
    root.append(section("Per app", table([
      { label: "Tag", value: (a) => el("button", { type: "button", class: "link", text: a.tag,
        title: "Show this tag's requests", on: { click: () => go("requests", `?tag=${encodeURIComponent(a.tag)}`) } }) },
      { label: "Requests", num: true, value: (a) => num(a.requests) },
      { label: "Avg latency", num: true, value: (a) => ms(a.avg_latency_ms) },
      { label: "Tokens in", num: true, value: (a) => num(a.prompt_tokens) },
      { label: "Tokens out", num: true, value: (a) => num(a.completion_tokens) },
      { label: "Error rate", num: true, value: (a) => pct(a.error_rate) },
      { label: "Models", value: (a) => (a.models || []).map((m) => `${m.model} (${num(m.requests)})`).join(", ") || "–" },
    ], apps)));
    const daily = data.daily || {};
    const dayNames = daily.days || [];
    if (dayNames.length > 1) {
      const times = dayNames.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
      const series = Object.entries(daily.series || {}).slice(0, 7).map(([tag, rows]) => ({
        label: tag, values: rows.map((r) => r.requests),
      }));
      root.append(el("div", { class: "charts" }, timeChart("Requests per day", times, series)));
    }
  },
};
