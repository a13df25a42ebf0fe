"""`/docs`: the OpenAPI document as a page you can read without JavaScript and try with it.

The page is rendered here, once at start, from the document itself:
operations, parameters, responses, the error table and every body's fields,
with the descriptions' Markdown as HTML (`api.markdown`). `static/docs/`
holds a small script that reads `/docs/openapi.json` and adds a "try it"
form to each GET operation (the request goes to this same origin; status,
headers and body are shown), and the page's style sheet. Nothing is loaded
from elsewhere, so the page works offline, and its Content-Security-Policy
makes the browser refuse anything that is not from this origin.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

import orjson
from sanic import Request, Sanic
from sanic.response import HTTPResponse

from api.exceptions import ALL_ERRORS
from api.http import etag_for
from api.markdown import inline, to_html
from api.openapi import NOT_MODIFIED

__all__ = ["ASSETS", "DOCS_DIR", "install", "openapi_paths", "render_page"]

# Read through importlib.resources: the package's own files, never a path from outside.
DOCS_DIR: Traversable = files("api") / "static" / "docs"
# The explorer's files, each served at /docs/<name>.
ASSETS: Mapping[str, str] = {
    "explorer.js": "text/javascript; charset=utf-8",
    "explorer.css": "text/css; charset=utf-8",
}
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# Unversioned URLs: revalidated on every use by the ETag hashed at start (304s
# from api.http), so a new server never runs an old script.
_HEADERS = {"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"}
_HTML_HEADERS = {
    **_HEADERS,
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _anchor(method: str, path: str) -> str:
    return method + "-" + ("".join(c if c.isalnum() else "-" for c in path).strip("-") or "root")


def _kind(spec: Mapping[str, Any]) -> str:
    kind = str(spec.get("type", spec.get("$ref", "").rsplit("/", 1)[-1]))
    return kind + (" or null" if spec.get("nullable") else "")


def _resolve(document: Mapping[str, Any], node: Mapping[str, Any]) -> Mapping[str, Any]:
    """`node`, or what its `$ref` ("#/components/...") names in `document`."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    target: Any = document
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return dict(target)


def _operation(
    document: Mapping[str, Any], path: str, method: str, op: Mapping[str, Any]
) -> list[str]:
    esc = html.escape
    parts = [
        f"<section class='op' id='{_anchor(method, path)}' data-method='{method}' "
        f"data-path='{esc(path, quote=True)}'>",
        f"<h3><code>{method.upper()} {esc(path)}</code></h3>",
        f"<p class='summary'>{inline(op['summary'])}</p>",
    ]
    if op.get("description"):
        parts.append(to_html(op["description"]))
    params = op.get("parameters", [])
    if params:
        parts.append("<table><thead><tr><th>parameter</th><th>in</th><th>required</th>")
        parts.append("<th>meaning</th></tr></thead><tbody>")
        for p in (_resolve(document, p) for p in params):
            example = p.get("example")
            values = p.get("schema", {}).get("enum")
            parts.append(
                f"<tr><td><code>{esc(p['name'])}</code></td><td>{esc(p['in'])}</td>"
                f"<td>{'yes' if p.get('required') else 'no'}</td>"
                f"<td>{inline(p.get('description', ''))}"
                + (
                    f" One of: {', '.join(f'<code>{esc(v)}</code>' for v in values)}."
                    if values
                    else ""
                )
                + (f" e.g. <code>{esc(str(example))}</code>" if example is not None else "")
                + "</td></tr>"
            )
        parts.append("</tbody></table>")
    parts.append("<ul class='responses'>")
    for status, response in op["responses"].items():
        description = _resolve(document, response).get("description", "")
        parts.append(f"<li><b>{esc(status)}</b> {inline(description)}</li>")
    parts.append("</ul></section>")
    return parts


def render_page(document: Mapping[str, Any]) -> str:
    """The whole document as one HTML page: operations, errors, bodies; Markdown rendered."""
    esc = html.escape
    info = document["info"]
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<meta name='color-scheme' content='light dark'>",
        f"<title>{esc(info['title'])} API</title><link rel='icon' href='data:,'>",
        "<link rel='stylesheet' href='/docs/explorer.css'>",
        "<script src='/docs/explorer.js' defer></script></head><body><main>",
        f"<h1>{esc(info['title'])} <small>{esc(info['version'])}</small></h1>",
        to_html(info["description"]),
        "<p>Machine-readable: <a href='/docs/openapi.json'>/docs/openapi.json</a> (OpenAPI "
        f"{esc(document['openapi'])}). <span id='try-note'>With JavaScript on, every "
        "operation below has a form that sends the request to this server.</span></p>",
        "<h2>Endpoints</h2>",
    ]
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            parts += _operation(document, path, method, op)
    parts.append("<h2 id='errors'>Errors</h2><table><thead><tr><th>status</th><th>error</th>")
    parts.append("<th>meaning</th></tr></thead><tbody>")
    for error in ALL_ERRORS:
        parts.append(
            f"<tr><td>{error.status}</td><td><code>{esc(error.code)}</code></td>"
            f"<td>{esc(error.default_message)}</td></tr>"
        )
    parts.append("</tbody></table><h2>Bodies</h2>")
    for name, schema in document["components"]["schemas"].items():
        parts.append(f"<h3 id='{esc(name)}'>{esc(name)}</h3>")
        parts.append("<table><thead><tr><th>field</th><th>type</th><th>meaning</th></tr>")
        parts.append("</thead><tbody>")
        for field, spec in schema.get("properties", {}).items():
            values = ", ".join(str(v) for v in spec.get("enum", []) if v is not None)
            meaning = inline(spec.get("description", "")) + (
                f" One of: {esc(values)}." if values else ""
            )
            parts.append(
                f"<tr><td><code>{esc(field)}</code></td><td>{esc(_kind(spec))}</td>"
                f"<td>{meaning}</td></tr>"
            )
        parts.append("</tbody></table>")
    parts.append("</main></body></html>")
    return "".join(parts)


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI entries of the document, the page and the explorer's files."""
    paths: dict[str, Any] = {
        "/docs/openapi.json": {
            "get": {
                "summary": "This document (OpenAPI 3, JSON)",
                "responses": {"200": {"description": "OpenAPI 3 JSON"}, "304": NOT_MODIFIED},
            }
        },
        "/docs": {
            "get": {
                "summary": "This document as a page, with a **try it** form per operation",
                "responses": {"200": {"description": "HTML"}, "304": NOT_MODIFIED},
            }
        },
    }
    for name, content_type in ASSETS.items():
        paths[f"/docs/{name}"] = {
            "get": {
                "summary": f"The /docs page's `{name}`",
                "responses": {
                    "200": {"description": content_type.split(";")[0]},
                    "304": NOT_MODIFIED,
                },
            }
        }
    return paths


def install(
    app: Sanic[Any, Any], document: Mapping[str, Any], directory: Traversable = DOCS_DIR
) -> None:
    """Register /docs, /docs/openapi.json and the explorer's files (read once, here)."""
    served: dict[str, tuple[bytes, str, Mapping[str, str]]] = {
        "/docs/openapi.json": (orjson.dumps(document), "application/json", _HEADERS),
        "/docs": (render_page(document).encode(), "text/html; charset=utf-8", _HTML_HEADERS),
    }
    for name, content_type in ASSETS.items():
        body = (directory / name).read_bytes()
        served[f"/docs/{name}"] = (
            body,
            content_type,
            {**_HEADERS, "X-Content-Type-Options": "nosniff"},
        )
    for uri, (body, content_type, fixed) in served.items():
        headers = {**fixed, "ETag": etag_for(body)}

        async def handler(
            request: Request,
            _body: bytes = body,
            _type: str = content_type,
            _headers: Mapping[str, str] = headers,
        ) -> HTTPResponse:
            return HTTPResponse(_body, headers=dict(_headers), content_type=_type)

        name = "docs_" + ("".join(c if c.isalnum() else "_" for c in uri[6:]) or "page")
        app.add_route(handler, uri, methods=["GET"], name=name)
