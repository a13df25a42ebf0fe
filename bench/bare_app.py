"""The framework's ceiling: a bare Sanic route returning constant JSON bytes.

Same interpreter, same Sanic and the same server settings as `api/main.py`
(one process, `single_process=True`, `access_log=False`, `motd=False`,
logging left unconfigured by Sanic), answering `/convert` with
`sanic.response.raw` and the two header fields every API answer carries
(Cache-Control, CORS), so `/convert` throughput divided by this one is the
share of the framework's capacity that the API keeps.

    python bench/bare_app.py --port 8100
"""

from __future__ import annotations

import argparse
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse, raw

_BODY = b'{"amount":"19979.845000","rate":"19979.845000000000","from":"BTC","to":"USDT"}'
_HEADERS = {"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"}


def create_app() -> Sanic[Any, Any]:
    app: Sanic[Any, Any] = Sanic("bench_bare", configure_logging=False, strict_slashes=True)

    @app.get("/convert")
    async def convert(request: Request) -> HTTPResponse:
        return raw(_BODY, headers=_HEADERS, content_type="application/json")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    app = create_app()
    app.prepare(host=args.host, port=args.port, single_process=True, access_log=False, motd=False)
    Sanic.serve_single(primary=app)


if __name__ == "__main__":
    main()
