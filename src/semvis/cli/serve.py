"""``semvis serve``: the colorization web app (page and JSON API), with photo search, on a local port."""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from pathlib import Path

from semvis.cli import console
from semvis.errors import SemvisError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "serve", help="web app: colorize a photo under a repaintable semantic map; search an index (docs/app.md)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--segmenter", type=Path, help="segmentation weights (default: the bundled CamVid model)")
    parser.add_argument("--colorizer", type=Path, help="colorizer weights (default: the bundled CamVid model)")
    parser.add_argument("--work-size", type=int, default=352, help="shorter side the chroma is predicted at")
    parser.add_argument("--index", type=Path, help="hash index to search from the page (semvis index build)")
    parser.add_argument(
        "--hash-weights", type=Path, help="weights of the index's model (default: the file it was built with)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from semvis.app import IndexSearcher, create_app
        from semvis.colorize.pipeline import load_colorization_models
    except ImportError as exc:
        raise SemvisError(f"the web app needs the 'web' extra: pip install 'semvis[web]' ({exc})") from None
    if args.work_size < 32:
        raise SemvisError(f"--work-size must be at least 32, got {args.work_size}")
    if args.hash_weights and not args.index:
        raise SemvisError("--hash-weights needs --index")
    with IndexSearcher(args.index, args.hash_weights, args.device) if args.index else nullcontext() as search:
        segmenter, labels, colorizer = load_colorization_models(args.segmenter, args.colorizer, args.device)
        app = create_app(segmenter, labels, colorizer, work_size=args.work_size, search=search)
        if search is not None:
            console().print(f"search: {args.index} ({len(search):,} images)")
        console().print(f"semvis colorization app on http://{args.host}:{args.port}/ (API docs at /docs); Ctrl+C stops")
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
