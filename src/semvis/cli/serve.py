"""``semvis serve``: the colorization web app (page and JSON API), with photo search, on a local port."""

from __future__ import annotations

import argparse
import errno
import socket
from contextlib import nullcontext
from pathlib import Path

from semvis.cli import console
from semvis.cli.colorize import check_work_size
from semvis.cli.export import add_runtime_option
from semvis.cli.main import int_in_range
from semvis.colorize.infer import WORK_SIZE
from semvis.errors import SemvisError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "serve", help="web app: colorize a photo under a repaintable semantic map; search an index (docs/app.md)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    parser.add_argument(
        "--port", type=int_in_range(0, 65535), default=8000, help="port (default 8000; 0: any free port)"
    )
    parser.add_argument("--segmenter", type=Path, help="segmentation weights (default: the bundled CamVid model)")
    parser.add_argument("--colorizer", type=Path, help="colorizer weights (default: the bundled CamVid model)")
    parser.add_argument("--work-size", type=int, default=WORK_SIZE, help="shorter side the chroma is predicted at")
    parser.add_argument("--index", type=Path, help="hash index to search from the page (semvis index build)")
    parser.add_argument(
        "--hash-weights", type=Path, help="weights of the index's model (default: the file it was built with)"
    )
    add_runtime_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from semvis.app import IndexSearcher, create_app
        from semvis.colorize.pipeline import load_colorization_models
    except ImportError as exc:
        raise SemvisError(f"the web app needs the 'web' extra: pip install 'semvis[web]' ({exc})") from None
    check_work_size(args.work_size)
    if args.hash_weights and not args.index:
        raise SemvisError("--hash-weights needs --index")
    with (
        listen(args.host, args.port) as sock,
        IndexSearcher(args.index, args.hash_weights, args.device) if args.index else nullcontext() as search,
    ):
        segmenter, labels, colorizer = load_colorization_models(
            args.segmenter, args.colorizer, args.device, args.runtime
        )
        app = create_app(segmenter, labels, colorizer, work_size=args.work_size, search=search)
        if search is not None:
            console().print(f"search: {args.index} ({len(search):,} images)")
        url = f"http://{args.host}:{sock.getsockname()[1]}/"
        console().print(f"semvis colorization app on {url} (API docs at /docs); Ctrl+C stops")
        uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])
    return 0


def listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``, bound before anything is announced; a busy port or an
    address that is not this machine's is one clear error."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise SemvisError(f"--host {host}: unknown address ({exc.strerror})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a restart reuses the port at once
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SemvisError(
                f"--port {port}: port {port} is in use on {host}; stop what uses it or pick another"
            ) from None
        raise SemvisError(f"--host {host}: cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    return sock
