// The dashboard shell: which view is shown (from /dashboard/<view> or #<view>), the navigation,
// the key dialog, and what a view shows when the router refuses or does not answer.

import { el, clear } from "./dom.js";
import { ApiError, saveKey, setKeyAsker, storedKey } from "./api.js";
import { notice } from "./ui.js";
import { disposeCharts } from "./charts.js";
import fleet from "./views/fleet.js";
import trends from "./views/trends.js";
import models from "./views/models.js";
import apps from "./views/apps.js";
import benchmarks from "./views/benchmarks.js";
import health from "./views/health.js";
import recommendations from "./views/recommendations.js";
import settings from "./views/settings.js";
import requests from "./views/requests.js";

const VIEWS = { fleet, trends, models, apps, benchmarks, health, recommendations, settings, requests };
const main = document.getElementById("main");
const liveBadge = document.getElementById("live");
let current = null;

function viewFromLocation() {
  const hash = location.hash.replace(/^#/, "");
  if (VIEWS[hash]) return hash;
  const last = location.pathname.replace(/\/+$/, "").split("/").pop();
  return VIEWS[last] ? last : "fleet";
}

export function setLive(text, state) {
  liveBadge.textContent = text;
  liveBadge.setAttribute("data-state", state);
}

async function show(name, { focus = false } = {}) {
  if (current) current.abort();
  disposeCharts();
  const controller = new AbortController();
  current = controller;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${VIEWS[name].title} · herd`;
  clear(main);
  main.removeAttribute("data-ready"); // set again once this render is on the page
  main.setAttribute("data-view", name);
  main.append(notice(`Loading ${VIEWS[name].title.toLowerCase()}…`));
  const root = el("div", { class: "view", "data-view": name });
  const ctx = { signal: controller.signal, rerender: () => show(name) };
  if (name !== "fleet") setLive("", "idle");
  try {
    await VIEWS[name].render(root, ctx);
    if (controller.signal.aborted) return;
    clear(main).append(root);
  } catch (error) {
    if (controller.signal.aborted) return;
    clear(main).append(failure(error, name));
  }
  main.setAttribute("data-ready", name);
  if (focus) main.focus({ preventScroll: true });
}

export function failure(error, name) {
  const title = VIEWS[name]?.title || name;
  if (error instanceof ApiError && error.unreachable) {
    return notice(`The router did not answer, so ${title.toLowerCase()} cannot be shown. `
      + "Check that herd is running on this address, then try again.", "error",
    el("button", { type: "button", text: "Try again", on: { click: () => show(name) } }));
  }
  if (error instanceof ApiError && error.refused) {
    return notice(`The router refused to show ${title.toLowerCase()}: ${error.message}`, "error",
      el("button", { type: "button", text: "Enter a key", on: { click: async () => {
        if (await askForKey(error.message, false)) show(name);
      } } }));
  }
  console.warn(error);
  return notice(`${title} could not be shown: ${error.message || error}`, "error",
    el("button", { type: "button", text: "Try again", on: { click: () => show(name) } }));
}

function askForKey(reason, forChange) {
  const dialog = document.getElementById("key-dialog");
  if (dialog.open) return Promise.resolve(null);
  document.getElementById("key-reason").textContent = forChange
    ? `This change needs the admin key (HERD_ADMIN_KEY). The router said: ${reason}`
    : `This router asks for its API key (HERD_API_KEY). The router said: ${reason}`;
  const input = document.getElementById("key-input");
  input.value = storedKey();
  dialog.returnValue = "";
  dialog.showModal();
  input.focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      const key = dialog.returnValue === "save" ? input.value.trim() : "";
      if (key) saveKey(key);
      resolve(key || null);
    }, { once: true });
  });
}

setKeyAsker(askForKey);
document.getElementById("key-cancel").addEventListener("click", () => document.getElementById("key-dialog").close(""));

document.getElementById("nav").addEventListener("click", (event) => {
  const link = event.target.closest("a[data-view]");
  if (!link || event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
  event.preventDefault();
  history.pushState({}, "", link.getAttribute("href"));
  show(link.dataset.view, { focus: true });
});
document.querySelector(".brand").addEventListener("click", (event) => {
  event.preventDefault();
  history.pushState({}, "", "/dashboard/fleet");
  show("fleet", { focus: true });
});
window.addEventListener("popstate", () => show(viewFromLocation()));
window.addEventListener("hashchange", () => show(viewFromLocation()));

/** Views call this to move to another view (e.g. from a model name to its requests). */
export function go(name, query = "") {
  history.pushState({}, "", `/dashboard/${name}${query}`);
  show(name, { focus: true });
}

show(viewFromLocation());
