"""HTTP semantics every route gets without asking for them: HEAD beside GET, and validators.

`install(app)` is called once by `create_app`; routes added later, by any
module and in any way (`@app.get`, `app.add_route`), are covered too:

- **HEAD** (RFC 9110 section 9.3.2: a server that answers GET on a resource
  answers HEAD there, with the same header fields). `Router` adds HEAD to
  every route that has GET. The handler runs as for GET; Sanic's HTTP/1
  writer then sends the headers, `Content-Length` of the body included, and
  drops the body (`sanic/http/http1.py`, `head_only`), so a handler never
  needs to know.
- **Validators** (RFC 9110 sections 8.8.3 and 13.1.2). `revalidate`, a
  response middleware, gives every cacheable 200 (`Cache-Control: public,
  ...`: historical conversions and boards, and whatever route makes an
  answer cacheable later, such as /rates past the staleness window) a strong
  `ETag` computed from its body. A route may set its own ETag on any 200
  instead (static files, hashed once at start). Either way an
  `If-None-Match` that names it (or `*`) turns the answer into a 304 with no
  body and the same ETag, Cache-Control, Vary and CORS headers, so a client
  or a CDN can revalidate. Latest answers (`no-cache`) get none: hashing
  each one cost ~2 µs of a ~110 µs latest /convert in process, more in the
  A/B, against a 3 % budget (docs/http.md), while a 304 would spare a
  client only a ~200-byte body. Errors (never 200) and `no-store` answers
  never carry one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse
from sanic.router import Router as SanicRouter
from sanic_routing.route import Route

__all__ = ["Router", "etag_for", "install", "matches", "revalidate"]


class Router(SanicRouter):
    """Sanic's router, with HEAD added to every route that answers GET."""

    def add(  # type: ignore[override]  # Sanic's own signature, passed through
        self, uri: str, methods: Iterable[str], *args: Any, **kwargs: Any
    ) -> Route | list[Route]:
        methods = frozenset(method.upper() for method in methods)
        if "GET" in methods:
            methods |= {"HEAD"}
        return super().add(uri, methods, *args, **kwargs)


def etag_for(body: bytes) -> str:
    """A strong entity tag for `body`: 128 bits of BLAKE2b, quoted (RFC 9110 section 8.8.3)."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def matches(if_none_match: str, etag: str) -> bool:
    """Whether an `If-None-Match` field value names `etag` (or is `*`).

    If-None-Match compares weakly (RFC 9110 section 13.1.2), so `W/"x"` names
    `"x"`. Our tags are hex digits, so splitting the list on commas is exact
    for them; a client's tag that holds a comma only fails to match.
    """
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == etag or tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


def revalidate(request: Request, response: HTTPResponse) -> None:
    """Response middleware: the ETag of a cacheable 200, and 304 when the client names it.

    A plain function, not a coroutine: Sanic awaits a middleware only when it
    returns an awaitable. It changes the response in place and returns None,
    because a middleware that returns a response ends Sanic's response
    middleware chain (the request metrics would miss it).
    """
    if response.status != 200:
        return
    headers = response.headers
    etag = headers.get("etag")
    if etag is None:
        body = response.body
        if not body or not headers.get("cache-control", "").startswith("public"):
            return  # latest (no-cache), no-store, or streamed: no validator
        etag = headers["ETag"] = etag_for(body)
    condition = request.headers.get("if-none-match")
    if condition is not None and matches(condition, etag):
        response.status = 304
        response.body = b""


def install(app: Sanic[Any, Any]) -> None:
    """Add the validators to `app` (HEAD needs `Router` passed to `Sanic(router=...)`).

    Response middleware of equal priority run last-registered first; -1 puts
    this one before every other (the request metrics), so they see the 304.
    """
    app.on_response(revalidate, priority=-1)  # type: ignore[no-untyped-call]  # untyped in Sanic 25
