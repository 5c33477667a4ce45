// Talking to the router: the key (asked once, kept in this browser, sent as a bearer token),
// JSON reads and changes, and the live fleet stream read with fetch (EventSource cannot send
// an Authorization header, and the key never goes into a URL).

const KEY_STORE = "herd.dashboard.key";
let askKey = async () => null;

export function setKeyAsker(fn) { askKey = fn; }
export function storedKey() {
  try { return localStorage.getItem(KEY_STORE) || ""; } catch { return ""; }
}
export function saveKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORE, key); else localStorage.removeItem(KEY_STORE);
  } catch { /* private mode: the key lives for this page only */ }
  memoryKey = key || "";
}
let memoryKey = storedKey();

function headers(extra = {}) {
  const h = { Accept: "application/json", ...extra };
  if (memoryKey) h.Authorization = `Bearer ${memoryKey}`;
  return h;
}

/** A refused, failed or unreachable call, with the router's own words when it gave any. */
export class ApiError extends Error {
  constructor(status, message, path) {
    super(message);
    this.status = status;
    this.path = path;
  }
  get unreachable() { return this.status === 0; }
  get refused() { return this.status === 401 || this.status === 403; }
}

async function send(method, path, body, retried = false) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "same-origin",
    });
  } catch {
    throw new ApiError(0, "The router did not answer. Is herd still running?", path);
  }
  let data = null;
  const text = await response.text();
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (response.ok) return data;
  const message = (data && (typeof data.error === "string" ? data.error : data.error?.message))
    || `${response.status} ${response.statusText}`;
  if (response.status === 401 && !retried) {
    const key = await askKey(message, method !== "GET");
    if (key) return send(method, path, body, true);
  }
  throw new ApiError(response.status, message, path);
}

export const get = (path) => send("GET", path);
export const post = (path, body) => send("POST", path, body ?? {});

/** Read the SSE stream at `path` until `signal` aborts; call onEvent(name, data) per event.
 *  Resolves when the stream ends (the caller reconnects); rejects with ApiError on refusal. */
export async function stream(path, onEvent, signal) {
  let response;
  try {
    response = await fetch(path, {
      headers: headers({ Accept: "text/event-stream" }), cache: "no-store", signal,
    });
  } catch (error) {
    if (signal.aborted) return;
    throw new ApiError(0, "The router did not answer. Is herd still running?", path);
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch { /* not JSON */ }
    if (response.status === 401 && (await askKey(message, false))) return;
    throw new ApiError(response.status, message, path);
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        dispatch(buffer.slice(0, cut), onEvent);
        buffer = buffer.slice(cut + 2);
      }
    }
  } catch (error) {
    if (!signal.aborted) throw new ApiError(0, "The live stream was interrupted.", path);
  }
}

function dispatch(frame, onEvent) {
  let name = "message";
  const data = [];
  for (const line of frame.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  if (!data.length) return;
  try { onEvent(name, JSON.parse(data.join("\n"))); } catch { /* a frame we cannot read */ }
}
