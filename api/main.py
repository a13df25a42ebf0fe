"""The API process: Sanic's server with `API_WORKERS` workers, built by the factory."""

from __future__ import annotations

import logging
import signal
from functools import partial
from typing import Any

from sanic import Sanic
from sanic.worker.loader import AppLoader

from api.app import create_app
from api.metrics import prepare_multiprocess
from logsetup import configure_logging
from settings import Settings

__all__ = ["build", "serve"]

log = logging.getLogger(__name__)


def build(settings: Settings) -> Sanic[Any, Any]:
    """Factory run in every worker (workers are fresh interpreters): logging, then the app."""
    configure_logging(settings.log_level, settings.log_format, "api")
    return create_app(settings, name="crypto_converter")


def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT (Sanic installs the handlers and drains connections)."""
    prepare_multiprocess(settings)  # before any worker exists: they inherit its directory
    loader = AppLoader(factory=partial(build, settings))
    app = loader.load()
    single = settings.api_workers == 1
    app.prepare(
        host=settings.api_host,
        port=settings.api_port,
        workers=settings.api_workers,
        single_process=single,
        access_log=False,
        motd=False,
    )
    log.info(
        "API listening on http://%s:%d (%d worker(s)), snapshots from %s",
        settings.api_host,
        settings.api_port,
        settings.api_workers,
        settings.data_dir,
    )
    if single:
        # Sanic listens before it installs its signal handlers; a SIGTERM in
        # between would kill the process uncleanly. Remember it and stop as
        # soon as the server is up.
        early: list[int] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: early.append(signum))

        @app.after_server_start
        async def stop_if_signalled(app: Sanic[Any, Any]) -> None:
            if early:
                log.info("stopping: signal %d arrived during start-up", early[0])
                app.stop()

        Sanic.serve_single(primary=app)
    else:
        Sanic.serve(primary=app, app_loader=loader)
    return 0
