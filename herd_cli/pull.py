"""``herd pull``, ``herd pulls`` and ``herd rm``: changing what the fleet holds, after asking.

A pull is shown before it starts (the node the router picked, the model's size, the node's free
disk before and after) and needs a yes: typed at the terminal, or ``--yes``. Without a terminal
and without ``--yes`` nothing is pulled. The pull itself is a router job: Ctrl-C only detaches
this command from it, and says how to look at it later.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

from herd_cli import views
from herd_cli.client import EXIT_FAILED, EXIT_OK, CliError, RouterClient
from herd_cli.progress import PullProgress
from herd_cli.render import human_bytes, table
from herd_cli.terminal import Terminal, confirm

POLL_S = 0.25
Command = Callable[..., argparse.ArgumentParser]


def add_commands(command: Command) -> None:
    p = command(
        "pull", run_pull, "pull a model onto the best node (or --node), with progress", reads=False
    )
    p.add_argument("model")
    p.add_argument("--node", help="the node to pull onto (default: the router picks)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    jobs = command("pulls", run_pulls, "pull jobs on the router: running and recently ended")
    jobs.add_argument("job_id", nargs="?", help="one job, in detail")
    rm = command("rm", run_rm, "delete a model from one node", reads=False)
    rm.add_argument("model")
    rm.add_argument("--node", required=True, help="the node to delete it from")
    rm.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")


def _may_go_ahead(args: argparse.Namespace, term: Terminal, question: str) -> bool:
    if args.yes:
        return True
    if not sys.stdin.isatty():
        raise CliError(
            "not confirmed: there is no terminal to ask on. Run it again with --yes to go ahead."
        )
    return confirm(question, term)


def plan_lines(plan: dict[str, Any]) -> list[str]:
    """What a pull would do: the node, the download, the node's memory and free disk."""
    chosen = " (picked by the router)" if plan.get("chosen_by") == "best_fit" else ""
    lines = [
        f"Pull {plan.get('model')} onto {plan.get('node_id') or '-'}{chosen}",
        f"  download   {human_bytes(plan.get('download_bytes'))}",
        f"  disk free  {human_bytes(plan.get('disk_free_bytes'))} now, "
        f"{human_bytes(plan.get('disk_free_after_bytes'))} after",
        f"  memory     {human_bytes(plan.get('memory_needed_bytes'))} needed of "
        f"{human_bytes(plan.get('memory_total_bytes'))}",
    ]
    if plan.get("already_there"):
        lines.append("  note       it is already on that node; pulling again updates it")
    if plan.get("reason"):
        lines.append(f"  note       {plan['reason']}")
    return lines


def run_pull(args: argparse.Namespace, client: RouterClient, term: Terminal) -> int:
    plan = client.post("/dashboard/api/pulls/plan", {"model": args.model, "node_id": args.node})
    term.print(*plan_lines(plan))
    if not plan.get("fits"):
        raise CliError(f"refused: {plan.get('reason') or 'the model does not fit that node'}")
    if not _may_go_ahead(args, term, "Go ahead?"):
        term.print("Nothing was pulled.")
        return EXIT_FAILED
    job = client.post(
        "/dashboard/api/pulls", {"model": plan["model"], "node_id": plan["node_id"]}, admin=True
    )
    job_id = str(job["id"])
    try:
        return _follow(client, term, job)
    except KeyboardInterrupt:
        term.print(
            "",
            f"Detached: the pull goes on on the router as job {job_id}.",
            f"Follow it with `herd pulls {job_id}` or `herd status`.",
        )
        return EXIT_OK


def job_events(job: dict[str, Any]) -> list[dict[str, object]]:
    """A job's state as Ollama-style status objects, for ``PullProgress``."""
    events: list[dict[str, object]] = [
        {
            "digest": layer.get("digest"),
            "total": layer.get("total_bytes"),
            "completed": layer.get("completed_bytes"),
        }
        for layer in job.get("layers") or []
        if isinstance(layer, dict)
    ]
    if job.get("status"):
        events.append({"status": job["status"]})
    return events


def _follow(client: RouterClient, term: Terminal, job: dict[str, Any]) -> int:
    progress = PullProgress()
    while True:
        for event in job_events(job):
            plain = progress.feed(event)
            if not term.fancy:
                term.print(*plain)
        if term.fancy:
            term.redraw(progress.screen(term.width))
        state = job.get("state")
        if state == "done":
            term.print(f"{job.get('model')} is on {job.get('node_id')}: 100% pulled.")
            return EXIT_OK
        if state in ("failed", "cancelled"):
            raise CliError(f"the pull {state}: {job.get('error') or 'no details'}")
        time.sleep(POLL_S)
        job = client.get(f"/dashboard/api/pulls/{job['id']}")


def run_pulls(args: argparse.Namespace, client: RouterClient, term: Terminal) -> int:
    if args.job_id:
        job = client.get(f"/dashboard/api/pulls/{args.job_id}")
        if args.json:
            term.print(views.json_text(job))
            return EXIT_OK
        term.print(*views.pull_job_lines(job))
        return EXIT_OK
    answer = client.get("/dashboard/api/pulls")
    if args.json:
        term.print(views.json_text(answer))
        return EXIT_OK
    headers, rows = views.pull_rows(answer.get("pulls") or answer.get("jobs") or [], time.time())
    term.print(*table(headers, rows, term.width))
    if not rows:
        term.print("No pulls running or recently ended.")
    return EXIT_OK


def run_rm(args: argparse.Namespace, client: RouterClient, term: Terminal) -> int:
    status = client.get("/fleet/status")
    if args.node not in views.node_ids(status):
        raise CliError(f"unknown node {args.node!r}; nodes: {', '.join(views.node_ids(status))}")
    model = views.find_model(status, args.model, args.node)
    if model is None:
        raise CliError(f"{args.node} has no model {args.model!r} (see `herd list`)")
    size = views.model_bytes(model)
    term.print(f"Delete {args.model} from {args.node}: frees {human_bytes(size)} of disk.")
    if not _may_go_ahead(args, term, "Delete it?"):
        term.print("Nothing was deleted.")
        return EXIT_FAILED
    client.post("/dashboard/api/delete", {"model": args.model, "node_id": args.node}, admin=True)
    term.print(f"Deleted {args.model} from {args.node}.")
    return EXIT_OK
