"""``python -m node.sim``: serve one simulated Ollama server from the command line."""

from __future__ import annotations

import argparse
import json

import uvicorn

from .catalogue import PROFILES
from .engine import SimConfig
from .runner import uvicorn_config
from .server import create_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m node.sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--profile", default="laptop", choices=sorted(PROFILES))
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="multiply every modelled delay (0 = none)"
    )
    parser.add_argument("--num-parallel", type=int, default=None, help="OLLAMA_NUM_PARALLEL")
    parser.add_argument("--max-loaded-models", type=int, default=None)
    parser.add_argument("--max-queue", type=int, default=512, help="OLLAMA_MAX_QUEUE")
    parser.add_argument("--keep-alive", default="5m", help="OLLAMA_KEEP_ALIVE")
    parser.add_argument("--context-length", type=int, default=4096)
    parser.add_argument("--memory-gb", type=float, default=None, help="override the profile's")
    parser.add_argument("--models", default=None, help="comma-separated models on disk")
    parser.add_argument("--image-models", default=None, help="comma-separated image models")
    parser.add_argument("--stt-models", default=None, help="comma-separated speech models")
    parser.add_argument(
        "--no-memory-wait",
        action="store_true",
        help="fail at once instead of waiting when busy models block a load",
    )
    parser.add_argument(
        "--version",
        default=SimConfig.version,
        help="the Ollama version to report (before 0.14.0 there is no /v1/messages)",
    )
    parser.add_argument("--list-profiles", action="store_true")
    return parser.parse_args(argv)


def _names(raw: str | None) -> list[str] | None:
    return [m.strip() for m in raw.split(",") if m.strip()] if raw is not None else None


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.list_profiles:
        for profile in PROFILES.values():
            print(json.dumps({"name": profile.name, "description": profile.description}))
        return
    config = SimConfig(
        profile=args.profile,
        time_scale=args.time_scale,
        num_parallel=args.num_parallel,
        max_loaded_models=args.max_loaded_models,
        max_queue=args.max_queue,
        keep_alive=args.keep_alive,
        context_length=args.context_length,
        memory_gb=args.memory_gb,
        models=[m.strip() for m in args.models.split(",") if m.strip()]
        if args.models is not None
        else None,
        memory_wait=not args.no_memory_wait,
        version=args.version,
        image_models=_names(args.image_models),
        stt_models=_names(args.stt_models),
    )
    app = create_app(config)
    uvicorn.Server(uvicorn_config(app, args.host, args.port)).run()


if __name__ == "__main__":
    main()
