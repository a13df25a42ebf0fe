"""/docs and /docs/openapi.json in process: valid OpenAPI 3, rendered Markdown, no CDN."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from sanic import Sanic

from api.app import create_app
from api.docs import ASSETS, DOCS_DIR
from api.exceptions import ALL_ERRORS
from api.markdown import inline, to_html
from settings import Settings

pytestmark = pytest.mark.filterwarnings("ignore:websockets.legacy is deprecated:DeprecationWarning")

VENUES = ("binance", "kraken", "bybit", "okx")


@pytest.fixture
def app(tmp_path: Path) -> Sanic[Any, Any]:
    """The app with four venues (no data needed: the documents do not read the store)."""
    return create_app(Settings(data_dir=tmp_path, exchanges=VENUES))


async def _document(app: Sanic[Any, Any]) -> dict[str, Any]:
    _, response = await app.asgi_client.get("/docs/openapi.json")
    document: dict[str, Any] = response.json
    return document


# -- Markdown ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("`a_b` and `c`", "<code>a_b</code> and <code>c</code>"),
        ("**bold** and *em*", "<strong>bold</strong> and <em>em</em>"),
        ("see [Errors](#errors)", 'see <a href="#errors">Errors</a>'),
        ("[doc](/docs/openapi.json?a=1&b=2)", '<a href="/docs/openapi.json?a=1&amp;b=2">doc</a>'),
        ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("`<b>` **`x`**", "<code>&lt;b&gt;</code> <strong><code>x</code></strong>"),
        ("`**not bold**`", "<code>**not bold**</code>"),
        ("1 * 2 * 3", "1 * 2 * 3"),
    ],
)
def test_inline_markdown(text: str, html: str) -> None:
    """Code, bold, emphasis and safe links become HTML; everything else is escaped text."""
    assert inline(text) == html


def test_block_markdown() -> None:
    """Paragraphs, bullet and numbered lists, and tables become their HTML blocks."""
    text = (
        "First *paragraph*\ngoes on.\n\n- one\n- `two`\n  continued\n\n1. first\n2. second\n\n"
        "| status | error |\n|---|:---:|\n| 413 | `payload_too_large` |\n"
    )
    assert to_html(text) == (
        "<p>First <em>paragraph</em> goes on.</p>"
        "<ul><li>one</li><li><code>two</code> continued</li></ul>"
        "<ol><li>first</li><li>second</li></ol>"
        "<table><thead><tr><th>status</th><th>error</th></tr></thead><tbody>"
        "<tr><td>413</td><td><code>payload_too_large</code></td></tr></tbody></table>"
    )


# -- the document -------------------------------------------------------------------------------


async def test_document_is_valid_openapi_3(app: Sanic[Any, Any]) -> None:
    """The served document validates against the OpenAPI 3 schema (openapi-spec-validator)."""
    validate(await _document(app))


async def test_every_get_documents_the_shared_http(app: Sanic[Any, Any]) -> None:
    """Every GET lists 413 and 431; those with ETags list 304 and the If-None-Match header."""
    paths = (await _document(app))["paths"]
    revalidated = {"/convert", "/prices", "/docs", "/docs/openapi.json"}
    revalidated |= {path for path in paths if path.startswith(("/docs/", "/static/"))}
    never = {"/health", "/metrics", "/exchanges", "/currencies", "/"}  # no-store or no-cache
    for path, operations in paths.items():
        operation = operations["get"]
        listed = "304" in operation["responses"]
        assert {"413", "431"} <= set(operation["responses"]), path
        assert listed if path in revalidated else True, path
        assert not listed if path in never else True, path
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert headers == ({"If-None-Match"} if listed else set()), path
    convert = paths["/convert"]["get"]
    assert "If-None-Match" in {p["name"] for p in convert["parameters"] if p["in"] == "header"}
    assert set(convert["responses"]["200"]["headers"]) == {"ETag", "Cache-Control"}


async def test_error_schema_lists_the_closed_set(app: Sanic[Any, Any]) -> None:
    """The Error schema's codes are exactly the closed set, the two oversize codes included."""
    error = (await _document(app))["components"]["schemas"]["Error"]
    assert error["properties"]["error"]["enum"] == [e.code for e in ALL_ERRORS]
    assert {"payload_too_large", "headers_too_large"} <= set(error["properties"]["error"]["enum"])


# -- the page -----------------------------------------------------------------------------------


class _Page(HTMLParser):
    """The text of a page outside <code>, and every URL it loads (src, stylesheet href)."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.loads: list[str] = []
        self._code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self._code += tag == "code"
        if tag == "script" and values.get("src"):
            self.loads.append(values["src"] or "")
        if tag == "link" and values.get("rel") in {"stylesheet", "icon"}:
            self.loads.append(values.get("href") or "")

    def handle_endtag(self, tag: str) -> None:
        self._code -= tag == "code"

    def handle_data(self, data: str) -> None:
        if not self._code:
            self.text.append(data)


async def test_page_renders_the_markdown(app: Sanic[Any, Any]) -> None:
    """/docs shows no Markdown syntax: no backtick or ** in its text, codes set as <code>."""
    _, response = await app.asgi_client.get("/docs")
    page = _Page()
    page.feed(response.text)
    text = "".join(page.text)
    assert "`" not in text
    assert "**" not in text
    assert "<code>payload_too_large</code>" in response.text
    assert '<a href="#errors">Errors</a>' in response.text
    assert "<li><strong>HEAD</strong>" in response.text


async def test_page_loads_nothing_from_elsewhere(app: Sanic[Any, Any]) -> None:
    """/docs loads only its own files (no CDN) and its CSP keeps every request on this origin."""
    _, response = await app.asgi_client.get("/docs")
    page = _Page()
    page.feed(response.text)
    assert sorted(page.loads) == sorted(["data:,", *(f"/docs/{name}" for name in ASSETS)])
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    for name in ASSETS:
        source = (Path(str(DOCS_DIR)) / name).read_text()
        assert not re.search(r"https?://", source), name


@pytest.mark.parametrize("name", list(ASSETS))
async def test_explorer_files_are_served(app: Sanic[Any, Any], name: str) -> None:
    """Each explorer file is served at /docs/<name> with its type, nosniff, no-cache and an ETag."""
    _, response = await app.asgi_client.get(f"/docs/{name}")
    assert response.status == 200
    assert response.body == (Path(str(DOCS_DIR)) / name).read_bytes()
    assert response.headers["content-type"] == ASSETS[name]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    _, again = await app.asgi_client.get(
        f"/docs/{name}", headers={"If-None-Match": response.headers["etag"]}
    )
    assert again.status == 304
