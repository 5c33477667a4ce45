// Time-series charts drawn by the vendored uPlot (vendor/uplot, see VERSION.txt there).
// A chart follows its container's width, so it fits a phone and a wide screen alike.

import { el } from "./dom.js";

const COLOURS = ["#3b82f6", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#84cc16"];
const live = new Set();

/** A chart of `series` ([{label, values, colour?}]) over `times` (epoch seconds). */
export function timeChart(title, times, series, { height = 180, unit = "" } = {}) {
  const box = el("figure", { class: "chart" }, el("figcaption", { text: unit ? `${title} (${unit.trim()})` : title }));
  const plotBox = el("div", { class: "chart-plot", role: "img", "aria-label": summary(title, series, unit) });
  box.append(plotBox);
  if (typeof window.uPlot !== "function") {
    plotBox.append(el("p", { class: "hint", text: "The chart library did not load." }));
    return box;
  }
  const options = {
    width: 300,
    height,
    legend: { show: true, live: false },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.08 : 1] } },
    axes: [
      { stroke: "#888", grid: { stroke: "rgba(128,128,128,.15)" } },
      { stroke: "#888", grid: { stroke: "rgba(128,128,128,.15)" }, size: 56,
        values: (u, ticks) => ticks.map((t) => compact(t)) },
    ],
    series: [{}, ...series.map((s, i) => ({
      label: s.label, stroke: s.colour || COLOURS[i % COLOURS.length], width: 2,
      fill: series.length === 1 ? "rgba(59,130,246,.12)" : undefined, spanGaps: true,
      points: { show: times.length < 40 },
    }))],
  };
  const plot = new window.uPlot(options, [times, ...series.map((s) => s.values)], plotBox);
  const fit = () => {
    const width = Math.max(200, Math.floor(plotBox.clientWidth));
    if (width && width !== plot.width) plot.setSize({ width, height });
  };
  const observer = new ResizeObserver(fit);
  observer.observe(plotBox);
  live.add({ plot, observer });
  requestAnimationFrame(fit);
  return box;
}

/** Free the charts of the view being left. */
export function disposeCharts() {
  for (const { plot, observer } of live) {
    observer.disconnect();
    plot.destroy();
  }
  live.clear();
}

function compact(value) {
  const v = Math.abs(value);
  if (v >= 1e6) return `${+(value / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(value / 1e3).toFixed(1)}k`;
  return `${+value.toFixed(v < 10 ? 1 : 0)}`;
}

function summary(title, series, unit) {
  return `${title}: ` + series.map((s) => {
    const vals = s.values.filter((v) => v !== null && v !== undefined);
    const max = vals.length ? Math.max(...vals) : 0;
    return `${s.label} peak ${compact(max)}${unit}`;
  }).join(", ");
}
