"""``python -m herd_mcp``: the same as the ``herd-mcp`` command."""

from herd_mcp.cli import main

raise SystemExit(main())
