"""The page people look at: `/` for browsers, and the static files it is made of.

`GET /` answers a browser (an `Accept` that names HTML) with `static/index.html`
and every other client with the JSON index, as before; both answers say
`Vary: Accept` so a cache never hands one to the other. The page's files are
read once at start and served from memory under `/static/<name>`.

The page must work on machines with no internet access, so it loads nothing
from elsewhere; the Content-Security-Policy sent with it makes the browser
itself refuse any request outside this origin.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse

__all__ = [
    "ASSETS",
    "STATIC_DIR",
    "Asset",
    "Site",
    "install",
    "load_assets",
    "openapi_paths",
    "wants_html",
]

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Every file the page is made of; each is served at /static/<name>.
ASSETS: Mapping[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
_PAGE = "index.html"

# 'self' only: scripts, styles and fetch() stay on this origin; img data: is
# the empty favicon that stops the browser asking for /favicon.ico.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Unversioned URLs, so a cached copy is revalidated on every use (a cheap 304
# by ETag): an upgraded server never runs new HTML with an old script.
_REVALIDATE = "no-cache"

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_JSON_TYPES = frozenset({"application/json", "application/*"})
# RFC 9110 section 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_QVALUE = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
# An Accept header longer than any real client's is not worth parsing in full.
_MAX_RANGES = 32


@dataclass(frozen=True, slots=True)
class Asset:
    """One file of the page, as served."""

    body: bytes
    content_type: str
    etag: str


def load_assets(directory: Path = STATIC_DIR) -> dict[str, Asset]:
    """Read every file of `ASSETS` from `directory` (at start, once)."""
    assets = {}
    for name, content_type in ASSETS.items():
        body = (directory / name).read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        assets[name] = Asset(body, content_type, etag)
    return assets


def _quality(params: list[str]) -> float:
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "q":
            value = value.strip()
            # A float is right here: q is a preference weight, not money.
            return float(value) if _QVALUE.fullmatch(value) else 0.0
    return 1.0


def wants_html(accept: str | None) -> bool:
    """True when the `Accept` header prefers HTML to JSON, i.e. it comes from a browser.

    Browsers send `text/html,application/xhtml+xml,...,*/*;q=0.8`; curl, httpx
    and `fetch()` send `*/*` or `application/json`. HTML wins only when named
    (not through a wildcard) with a weight above JSON's, so every existing
    client keeps the JSON index; a tie goes to JSON, the API's own format.
    """
    if not accept:
        return False
    html_q = json_q = 0.0
    for media_range in accept.split(",")[:_MAX_RANGES]:
        media, *params = media_range.split(";")
        media = media.strip().lower()
        if media in _HTML_TYPES:
            html_q = max(html_q, _quality(params))
        elif media in _JSON_TYPES:
            json_q = max(json_q, _quality(params))
    return html_q > json_q


def _add_vary(response: HTTPResponse, field: str) -> HTTPResponse:
    vary = response.headers.get("Vary", "")
    names = {name.strip().lower() for name in vary.split(",")}
    if field.lower() not in names and "*" not in names:
        response.headers["Vary"] = f"{vary}, {field}" if vary.strip() else field
    return response


class Site:
    """The page's files in memory, and the answers made from them."""

    def __init__(self, assets: Mapping[str, Asset]) -> None:
        self.assets = dict(assets)

    @property
    def weight(self) -> int:
        """Bytes a browser downloads for the whole page."""
        return sum(len(asset.body) for asset in self.assets.values())

    def index(self, request: Request, json_response: HTTPResponse) -> HTTPResponse:
        """`GET /`: the page for a browser, `json_response` (the index) for any other client."""
        if wants_html(request.headers.get("accept")):
            return _add_vary(self._serve(request, self.assets[_PAGE]), "Accept")
        return _add_vary(json_response, "Accept")

    def static(self, request: Request, name: str) -> HTTPResponse:
        """`GET /static/<name>`: one file, revalidated by ETag."""
        return self._serve(request, self.assets[name])

    def _serve(self, request: Request, asset: Asset) -> HTTPResponse:
        headers = {
            "Cache-Control": _REVALIDATE,
            "ETag": asset.etag,
            "X-Content-Type-Options": "nosniff",
        }
        if asset.content_type.startswith("text/html"):
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            headers["Referrer-Policy"] = "no-referrer"
        match = request.headers.get("if-none-match", "")
        if asset.etag in (tag.strip().removeprefix("W/") for tag in match.split(",")):
            return HTTPResponse(status=304, headers=headers)
        return HTTPResponse(asset.body, headers=headers, content_type=asset.content_type)


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI entries of `/static/<name>` (one per file), for the API's document."""
    return {
        f"/static/{name}": {
            "get": {
                "summary": f"The page's {name} (GET / with Accept: text/html serves the page)",
                "responses": {
                    "200": {"description": content_type.split(";")[0]},
                    "304": {"description": "Not modified (If-None-Match matched the ETag)"},
                },
            }
        }
        for name, content_type in ASSETS.items()
    }


def install(app: Sanic[Any, Any], directory: Path = STATIC_DIR) -> Site:
    """Read the page's files and register `/static/<name>` for each; `/` calls `Site.index`."""
    site = Site(load_assets(directory))
    for name in site.assets:

        async def handler(request: Request, _name: str = name) -> HTTPResponse:
            return site.static(request, _name)

        app.add_route(
            handler, f"/static/{name}", methods=["GET"], name="static_" + name.replace(".", "_")
        )
    return site
