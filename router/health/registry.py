"""The registry of health checks: a check registers itself where it is defined.

Owns ``CHECKS`` and the ``health_check`` decorator. Adding a check is one edit: write the function
in a ``*_checks`` module and decorate it; ``engine.evaluate`` runs every registered check.
"""

from __future__ import annotations

from collections.abc import Callable

from .model import Findings, HealthInputs

Check = Callable[[HealthInputs], Findings]

CHECKS: list[Check] = []
"""Every registered check, in registration order (the report sorts its findings itself)."""


def health_check(check: Check) -> Check:
    """Register ``check`` with the engine."""
    CHECKS.append(check)
    return check
