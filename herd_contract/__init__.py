"""The contract herd's processes share: what a node agent and the router both rely on.

Owns the heartbeat a node posts to the router (``heartbeat``), the one unit of size on the wire
(``units``: bytes), how a router is found on the network (``discovery``: the mDNS service type and
the default port), how a model is named (``model_names``: the key both sides compare), how a
version string compares (``versions``), the
JSON-lines log set-up every herd process uses (``logs``) and the rule that child processes die
with their parent (``children``). It imports neither ``router`` nor ``node``: both import it, so
neither needs the other.
"""

__version__ = "0.1.0"
"""The version of herd's router, node agent and wire contract (they ship together)."""
