"""``python -m router``: the same as the ``herd`` command."""

from router.cli import main

raise SystemExit(main())
