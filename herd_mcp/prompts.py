"""herd's MCP prompts: ``check_fleet_health``, ``diagnose_slow_responses`` and
``find_model_location``, each a walk through the read tools for a common question.

Owns the prompts' names and wording. It must never call the router; the prompts only tell the
model which tools to call, and that nothing changes without the user's yes.
"""

from mcp.server.mcpserver import MCPServer


def register_prompts(server: MCPServer) -> None:
    """Register every prompt on ``server``."""

    @server.prompt(
        name="check_fleet_health",
        title="Check fleet health",
        description="Walk through the fleet's health and say what needs a person's attention.",
    )
    def check_fleet_health() -> str:
        return (
            "Check the health of my herd fleet. Call `health` and `fleet_status`. Summarise the "
            "score and overall status, then list each warning or critical finding with its numbers "
            "and its fix, grouped by node. For every node that is offline or degraded, say what "
            "to check (device awake, herd-node running, network path to the router); do not "
            "restart or change anything. If no node is online, explain how to start `herd-node` "
            "on each device (with `--router-url http://ROUTER:11435` when mDNS fails)."
        )

    @server.prompt(
        name="diagnose_slow_responses",
        title="Diagnose slow responses",
        description="Find why requests are slow: queues, cold loads, memory, retries, nodes.",
    )
    def diagnose_slow_responses(model: str = "") -> str:
        scope = f" for the model {model}" if model else ""
        traces_call = f'`traces` with model="{model}"' if model else "`traces`"
        return (
            f"Responses{scope} from my herd fleet feel slow. Diagnose it step by step: "
            f"1) {traces_call} (limit 50): compare latency_ms and time to first token, look for "
            "cold loads, retries, fallbacks and failed requests, and which nodes served them. "
            "2) `fleet_status`: queue depth (pending, in_flight) per node:model, memory pressure, "
            "CPU load, thermal state. 3) `loaded_models`: is the model hot, and where? "
            "4) `health`: thrashing, KV-cache bloat, context protection, timeouts. "
            "5) `model_insights` for per-model latency percentiles. Optionally `test_inference` "
            "once to measure a fresh request. Conclude with the most likely causes, the evidence "
            "for each, and concrete fixes; change nothing without asking me."
        )

    @server.prompt(
        name="find_model_location",
        title="Find where a model lives",
        description="Which nodes hold a model, whether it is loaded, and how to get it if not.",
    )
    def find_model_location(model: str) -> str:
        return (
            f"Where does the model {model} live in my herd fleet? Call `find_model` with "
            f'model="{model}". Say which nodes have it loaded (hot) and which only on disk '
            "(cold), mention unreachable holders, and if no node has it, list similar tags and "
            "offer to pull it with `pull_model` - only after I confirm."
        )
