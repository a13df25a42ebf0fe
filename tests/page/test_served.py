"""The page's HTTP answers from the real API process: `/` by Accept, and the static files."""

from __future__ import annotations

import pytest

from api import page
from tests.page.conftest import Api
from tests.page.test_site import BROWSER_ACCEPT

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_browser_gets_the_page(api: Api) -> None:
    """GET / from a browser answers the page with Vary: Accept and a same-origin-only CSP."""
    response = api.client.get("/", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content == (page.STATIC_DIR / "index.html").read_bytes()
    assert "accept" in response.headers["vary"].lower()
    assert response.headers["cache-control"] == "no-cache"
    csp = response.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "connect-src 'self'"):
        assert directive in csp


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_other_clients_keep_the_json_index(api: Api, accept: str | None) -> None:
    """GET / from curl, httpx or fetch() keeps the JSON index, marked as varying by Accept."""
    request = api.client.build_request("GET", "/")
    del request.headers["accept"]  # httpx sends */* unless told otherwise
    if accept is not None:
        request.headers["accept"] = accept
    response = api.client.send(request)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json()["name"] == "crypto-converter"
    assert "accept" in response.headers["vary"].lower()


@pytest.mark.parametrize(("name", "content_type"), list(page.ASSETS.items()))
def test_static_files(api: Api, name: str, content_type: str) -> None:
    """Each file is served with its type, nosniff and no-cache, and revalidates to 304 by ETag."""
    response = api.client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache"
    assert response.content == (page.STATIC_DIR / name).read_bytes()
    etag = response.headers["etag"]
    again = api.client.get(f"/static/{name}", headers={"If-None-Match": f'"other", {etag}'})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    changed = api.client.get(f"/static/{name}", headers={"If-None-Match": '"other"'})
    assert changed.status_code == 200


def test_unknown_static_file_is_a_json_404(api: Api) -> None:
    """A file that is not part of the page is the API's usual JSON not_found."""
    response = api.client.get("/static/../settings.py")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert api.client.get("/static/missing.js").json()["error"] == "not_found"
