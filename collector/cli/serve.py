"""`upkeep serve`: the HTTP server (FastAPI on uvicorn)."""

from __future__ import annotations

import argparse
import logging

from collector.cli.context import add_config_options, config_from


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the collector's HTTP server")
    add_config_options(p)
    p.add_argument("--listen", default=None, metavar="HOST:PORT", help="overrides `listen` of the config")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    p.add_argument("--access-log", action="store_true", help="log every request (off: ingest is busy)")
    p.set_defaults(func=run)


# The cyclic garbage collector's thresholds for the server: (allocations before a young
# collection, young collections before a middle one, middle ones before a full one). Python's
# defaults (700, 10, 10) made a collector at 30,000 hosts spend a fifth of its event loop in
# collections, most of them full ones walking millions of window objects (collector/services/
# heap.py freezes those it keeps). Requests free their objects by reference counting, so the
# young count grows only with what the server keeps; garbage cycles wait a little longer.
GC_THRESHOLDS = (50_000, 20, 100)


def run(args: argparse.Namespace) -> int:
    import gc

    import uvicorn

    from collector.app import build_context, create_app

    config = config_from(args)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    gc.set_threshold(*GC_THRESHOLDS)
    ctx = build_context(config)
    app = create_app(ctx)
    tls = config.tls
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            ssl_certfile=str(tls.cert) if tls else None,
            ssl_keyfile=str(tls.key) if tls else None,
            log_level=args.log_level,
            access_log=args.access_log,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=10,
        )
    )
    server.run()
    return 0
