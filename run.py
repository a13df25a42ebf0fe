#!/usr/bin/env python
"""Crypto Converter's single entry point: one subcommand, one process.

    python run.py quote-consumer   poll the exchange, write snapshots
    python run.py api              serve GET /convert from the snapshots
    python run.py all              both, as supervised child processes (local use)
    python run.py snapshots        list snapshot files; `snapshots show latest`
    python run.py reindex          rebuild the history index from the snapshot files
    python run.py market-report    market analytics from the venues (--json, --watch)

Settings come from the environment and `.env`, are built once here, and are
passed down; a bad value stops the process with a message naming the variable.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from dotenv import load_dotenv

from logsetup import configure_logging
from settings import Settings, SettingsError, load_settings

log = logging.getLogger("run")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="Crypto Converter: exact crypto conversions from exchange quotes.",
        epilog="Configuration is read from the environment and .env (see README.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("quote-consumer", help="poll the exchange and write snapshots")
    sub.add_parser("api", help="serve the conversion API")
    sub.add_parser("all", help="run the consumer and the API as child processes")
    snaps = sub.add_parser("snapshots", help="list or show snapshot files")
    snaps.add_argument("action", nargs="?", choices=["list", "show"], default="list")
    snaps.add_argument("name", nargs="?", default="latest", help="file name or 'latest'")
    snaps.add_argument("--all", action="store_true", help="list every snapshot")
    snaps.add_argument("--symbol", help="show only this symbol, e.g. BTCUSDT")
    snaps.add_argument(
        "--exchange", metavar="NAME", help="one venue (default: every venue of EXCHANGES)"
    )
    reindex = sub.add_parser(
        "reindex", help="rebuild the history index from the snapshot files (consumer stopped)"
    )
    reindex.add_argument(
        "--exchange", metavar="NAME", help="one venue (default: every venue of EXCHANGES)"
    )
    market = sub.add_parser("market-report", help="market analytics from the venues, now")
    market.add_argument("--exchange", metavar="NAME", help="one venue (default: every venue)")
    market.add_argument("--json", action="store_true", help="JSON instead of a table")
    market.add_argument(
        "--watch", action="store_true", help="then print spreads every MARKET_INTERVAL_SECONDS"
    )
    return parser


def _venues(settings: Settings, exchange: str | None) -> tuple[str, ...] | None:
    """--exchange NAME as a venue tuple (default: every venue); None after reporting a bad one."""
    if exchange is None:
        return settings.exchanges
    if exchange.lower() in settings.exchanges:
        return (exchange.lower(),)
    print(
        f"run.py: --exchange {exchange!r} is not a venue of EXCHANGES "
        f"({','.join(settings.exchanges)})",
        file=sys.stderr,
    )
    return None


def _snapshots(settings: Settings, args: argparse.Namespace) -> int:
    from storage.inspect import list_snapshots, show_snapshot

    venues = _venues(settings, args.exchange)
    if venues is None:
        return 2
    results = []
    for i, venue in enumerate(venues):
        if i:
            sys.stdout.write("\n")
        directory = settings.data_dir / venue
        if args.action == "show":
            results.append(show_snapshot(directory, args.name, sys.stdout, args.symbol))
        else:
            results.append(list_snapshots(directory, sys.stdout, None if args.all else 20))
    # Success when any venue had what was asked for: an empty venue is reported, not fatal.
    return 0 if 0 in results else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    load_dotenv(override=False)
    try:
        settings = load_settings(os.environ)
    except SettingsError as exc:
        print(f"run.py: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format, args.command)
    if args.command == "quote-consumer":
        from consumer.main import serve as serve_consumer

        return serve_consumer(settings)
    if args.command == "api":
        from api.main import serve as serve_api

        return serve_api(settings)
    if args.command == "all":
        from supervisor import supervise

        return supervise([sys.executable, os.path.abspath(__file__)])
    if args.command == "reindex":
        from storage.reindex import reindex

        venues = _venues(settings, args.exchange)
        if venues is None:
            return 2
        return reindex(settings.data_dir, venues, sys.stdout)
    if args.command == "market-report":
        from consumer.report import market_report

        venues = _venues(settings, args.exchange)
        if venues is None:
            return 2
        return market_report(settings, venues, as_json=args.json, watch=args.watch, out=sys.stdout)
    return _snapshots(settings, args)


if __name__ == "__main__":
    sys.exit(main())
