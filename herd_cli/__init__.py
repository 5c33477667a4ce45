"""``herd status``, ``herd ps``, ``herd pull`` and friends: the fleet from a terminal.

A client of a running router's HTTP API, like ``herd-mcp``: it never imports the router. The
router's own command (``router.cli``) hands these subcommands over to ``herd_cli.commands``.
"""

from herd_cli.commands import COMMANDS, main

__all__ = ["COMMANDS", "main"]
