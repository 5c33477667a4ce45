"""The words herd-mcp uses when something is wrong: what to check, never a claim to have fixed it.

Owns the failure messages (router unreachable, no node online, an API error with the log path) and
the per-node "what to check" notes. Pure string building over plain data; no I/O.
"""

from __future__ import annotations

from herd_mcp.router_views import NodeView

LOG_PATH = "~/.fleet-manager/logs/herd.jsonl"
NO_NODE = (
    "No node is online. Start `herd-node` on each device that runs Ollama; when mDNS discovery "
    "does not find the router (another subnet, multicast blocked), start it with "
    "`herd-node --router-url http://ROUTER:11435` (ROUTER = the router machine's address)."
)


def unreachable(url: str, detail: str) -> str:
    return (
        f"Could not reach the herd router at {url} ({detail}). The router may not be running: "
        "start it with `herd` on the router machine (it listens on port 11435), or point herd-mcp "
        "at the right address with --router-url / HERD_ROUTER_URL."
    )


def api_error(method: str, path: str, status: int, body: str, log_path: str | None = None) -> str:
    hint = ""
    if status == 401:
        hint = " The router wants a key: set HERD_API_KEY (reads) or HERD_ADMIN_KEY (changes)."
    elif status == 403:
        hint = " The key was refused: changes need HERD_ADMIN_KEY (or a call from the router host)."
    return (
        f"The router answered HTTP {status} to {method} {path}. Full error response: {body}.{hint} "
        + (
            f"The router's JSONL log has the details: {log_path}."
            if log_path
            else f"The router's JSONL log has the details: {LOG_PATH} (or "
            "<data-dir>/logs/herd.jsonl when the router runs with --data-dir / HERD_DATA_DIR)."
        )
    )


def node_problem(node: NodeView) -> str | None:
    """What to check about one node, or None when it looks fine."""
    ago = f"{node.seconds_since_heartbeat:.0f}s"
    if node.status == "offline":
        return (
            f"No heartbeat from {node.node_id} for {ago}. Check that the device is awake and on "
            "the network, that `herd-node` is still running on it, and that it can reach the "
            "router (try `curl http://ROUTER:11435/fleet/status` from that device). The router "
            "routes nothing to it meanwhile; herd-mcp does not restart anything."
        )
    if node.status == "degraded":
        return (
            f"{node.node_id}'s heartbeats are late (last {ago} ago). Check the device's load and "
            "network, and the `herd-node` process on it."
        )
    if not node.ollama.reachable:
        return (
            f"{node.node_id} reports that Ollama at {node.ollama_url} does not answer. Check that "
            "Ollama is running there (`ollama serve`, or the Ollama app) and listens on that "
            "address."
        )
    if node.memory.pressure == "critical":
        return (
            f"{node.node_id} is under critical memory pressure "
            f"({node.memory.available_gb:.1f} GB available); new loads are not sent there. "
            "Check what else uses memory on that device, or unload idle models."
        )
    return None
