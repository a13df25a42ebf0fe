"""The page's server side without a server: content negotiation, the files, their weight.

The HTTP answers themselves (headers, 304, `/` for a browser and for curl)
are checked against the real API process in `test_served.py`.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sanic import Sanic

from api import page
from settings import KNOWN_VENUES

# What Chromium sends for a top-level navigation.
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7"
)
_names = itertools.count()


def _app() -> Sanic[object, object]:
    return Sanic(f"page_test_{next(_names)}", configure_logging=False)


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("TEXT/HTML", True),
        ("application/xhtml+xml", True),
        ("application/json;q=0.5, text/html", True),
        ("application/json;q=0.9, text/html;q=0.91", True),
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("text/*", False),
        ("text/html, application/json", False),
        ("text/html;q=0.5, application/json", False),
        ("text/html;q=0, */*", False),
        ("text/html;q=2", False),
        ("text/html;q=nan", False),
    ],
)
def test_wants_html(accept: str | None, html: bool) -> None:
    """Only an Accept that names HTML above JSON gets the page; wildcards and ties keep JSON."""
    assert page.wants_html(accept) is html


@given(st.text(max_size=300))
def test_wants_html_takes_any_header(accept: str) -> None:
    """Any header text, however malformed, is answered with a bool and never raises."""
    assert isinstance(page.wants_html(accept), bool)


def test_files_are_read_once_at_install(tmp_path: Path) -> None:
    """Editing a file after start changes nothing served: the bytes were read at install."""
    for name in page.ASSETS:
        (tmp_path / name).write_bytes((page.STATIC_DIR / name).read_bytes())
    site = page.install(_app(), tmp_path)
    (tmp_path / "app.js").write_text("changed")
    assert site.assets["app.js"].body == (page.STATIC_DIR / "app.js").read_bytes()


def test_only_the_page_files_are_routes() -> None:
    """Each file of the page is one route, nothing else under static/ is, and all are documented."""
    app = _app()
    page.install(app)
    uris = {route.uri for route in app.router.routes}
    assert uris == {f"/static/{name}" for name in page.ASSETS}
    assert set(page.openapi_paths()) == uris


def test_etags_follow_the_content() -> None:
    """Each file's ETag is a quoted digest of its bytes, so a changed file gets a new one."""
    assets = page.load_assets()
    tags = {asset.etag for asset in assets.values()}
    assert len(tags) == len(assets)
    assert all(re.fullmatch(r'"[0-9a-f]{20}"', tag) for tag in tags)


def test_page_weighs_under_150_kb() -> None:
    """index.html + app.js + style.css together stay under the spec's 150 KB."""
    assert page.Site(page.load_assets()).weight < 150 * 1024


def test_page_names_nothing_outside_the_origin() -> None:
    """No asset names another origin: links are paths, fragments or data:, CSS loads nothing."""
    for name in page.ASSETS:
        text = (page.STATIC_DIR / name).read_text()
        text = text.replace('"http://www.w3.org/2000/svg"', "")  # a name, never fetched
        assert not re.search(r"[a-z][a-z0-9+.-]*://", text, re.IGNORECASE), name
        if name.endswith(".css"):
            assert not re.search(r"url\(|@import|@font-face", text, re.IGNORECASE)
        for link in re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", text):
            assert link.startswith(("/", "#", "data:")), (name, link)
            assert not link.startswith("//"), (name, link)


def test_page_treats_venues_as_data() -> None:
    """The page spells no venue name: venues come from /exchanges (house style 4a)."""
    for name in page.ASSETS:
        text = (page.STATIC_DIR / name).read_text().lower()
        assert [v for v in KNOWN_VENUES if re.search(rf"\b{v}\b", text)] == [], name
