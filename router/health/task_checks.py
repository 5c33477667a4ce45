"""Background-task checks: a supervised task of the router (reaper, trace writer, weekly save,
mDNS advertiser) that is failing right now.

Owns that check's logic and wording. Pure: the supervisor's snapshot comes in ``HealthInputs``.
"""

from __future__ import annotations

from .model import Findings, HealthCheck, HealthInputs
from .registry import health_check


@health_check
def check_background_tasks(inputs: HealthInputs) -> Findings:
    """The router's background tasks are running."""
    return [
        HealthCheck(
            check_id="background_tasks",
            severity="critical",
            title=f"Background task {task.name} is failing",
            description=(
                f"The router's {task.name} task failed {task.restarts} time(s); the last "
                f"error was {task.last_error}. It is restarted with a growing delay, and "
                "this finding clears once it runs cleanly again."
            ),
            fix=(
                "Read the traceback in the router's herd.jsonl (logger herd.supervisor); a "
                "full or read-only data directory and a missing network interface are the "
                "usual causes."
            ),
            data={
                "task": task.name,
                "restarts": task.restarts,
                "last_error": task.last_error,
                "last_error_at": task.last_error_at,
            },
        )
        for task in inputs.tasks
        if task.failing
    ]
