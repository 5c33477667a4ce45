"""``python -m node``: the same as the ``herd-node`` command."""

from node.cli import main

raise SystemExit(main())
