"""``python -m tests.fake_exchange``: serve fake venues until interrupted (manual demos).

    python -m tests.fake_exchange --port 9100                 # Binance only, as before
    python -m tests.fake_exchange --venue kraken --port 9102
    python -m tests.fake_exchange --all                       # 9100, 9102, 9103, 9104
    python -m tests.fake_exchange --all --fault rate_limited --price-factor okx=1.2

With ``--all`` it prints the ``export <VENUE>_BASE_URL=...`` lines to paste
into the shell that runs the consumer and the API.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from decimal import Decimal, InvalidOperation
from types import FrameType

from tests.fakes.binance import BinanceFault
from tests.fakes.core import Fault
from tests.fakes.exchanges import FakeExchanges, demo_ports
from tests.fakes.venue import KNOWN_VENUES


def _parse_fault(name: str) -> Fault | BinanceFault:
    key = name.upper()
    if key in Fault.__members__:
        return Fault[key]
    if key in BinanceFault.__members__:
        return BinanceFault[key]  # the original names (http_429, ...) keep working
    raise argparse.ArgumentTypeError(f"unknown fault {name!r}")


def _parse_retry_after(raw: str) -> int | None:
    if raw.lower() == "none":
        return None
    if not raw.isdigit():
        raise argparse.ArgumentTypeError(f"not a number of seconds or 'none': {raw!r}")
    return int(raw)


def _parse_factor(raw: str) -> tuple[str | None, Decimal]:
    venue, _, number = raw.rpartition("=")
    if venue and venue not in KNOWN_VENUES:
        raise argparse.ArgumentTypeError(f"unknown venue {venue!r}")
    try:
        return venue or None, Decimal(number)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not a decimal: {number!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fake_exchange",
        description="Serve fake Binance, Kraken, Bybit and OKX REST APIs on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port",
        type=int,
        default=9100,
        help="0 picks a free port; with --all: binance PORT, kraken PORT+2, bybit PORT+3, "
        "okx PORT+4 (PORT+1 is left free: 9101 is the consumer's metrics port)",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--venue", choices=KNOWN_VENUES, default="binance")
    which.add_argument("--all", action="store_true", help="start all four venues")
    fault_names = [f.name.lower() for f in Fault] + [
        f.name.lower() for f in BinanceFault if f.name not in Fault.__members__
    ]
    parser.add_argument(
        "--fault", type=_parse_fault, default=Fault.NONE, help="one of: " + ", ".join(fault_names)
    )
    parser.add_argument("--endpoint", default=None, help="fault only this path")
    parser.add_argument("--retry-after", type=_parse_retry_after, default=2, help="s, or none")
    parser.add_argument("--delay", type=float, default=5.0, help="SLOW's delay in seconds")
    parser.add_argument(
        "--price-factor",
        type=_parse_factor,
        action="append",
        default=[],
        metavar="[VENUE=]FACTOR",
        help="multiply quoted bids/asks (all venues, or one); repeatable",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    names = KNOWN_VENUES if args.all else (args.venue,)
    ports = demo_ports(args.port) if args.all else {args.venue: args.port}
    fakes = FakeExchanges(names, host=args.host, ports=ports)
    labels: dict[str, str] = {}
    for venue in fakes:
        label = args.fault.name
        try:
            if args.endpoint is None or args.endpoint in venue.paths or not args.all:
                venue.set_fault(
                    args.fault,
                    endpoint=args.endpoint,
                    retry_after=args.retry_after,
                    delay=args.delay,
                )
            else:
                label = "NONE"
            for only, factor in args.price_factor:
                if only in (None, venue.name):
                    venue.set_price_factor(factor)
        except ValueError as exc:
            if not args.all:
                parser.error(str(exc))
            label = f"NONE, {args.fault.name} not available"
        labels[venue.name] = label
    try:
        fakes.start()
    except OSError as exc:
        print(f"cannot listen: {exc}", file=sys.stderr)
        return 1
    for venue in fakes:
        title = venue.profile.title
        print(f"fake {title} serving at {venue.base_url} (fault: {labels[venue.name]})")
    if args.all:
        print("# for the consumer and the API:")
        for name, value in fakes.env.items():
            print(f"export {name}={value}")
    sys.stdout.flush()
    stopping = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    # Both signals stop cleanly, SIGINT too when a non-interactive shell
    # started us in the background with SIGINT ignored.
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        fakes.stop()
    print(f"served {sum(len(venue.requests) for venue in fakes)} requests", flush=True)
    return 0
