"""/docs in a real headless Chromium: a "try it" form per GET operation that really sends.

Against the real API of `tests/page/conftest.py`. What the form shows is
compared with what the API answers to the same request over httpx; every
request the browser makes must stay on the API's origin.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from storage.model import format_iso_ms
from tests.page.conftest import Api

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

WAIT_MS = 10_000


@pytest.fixture
def docs(api: Api, browser: Browser) -> Iterator[tuple[Page, list[str], list[str]]]:
    """/docs loaded with its forms built; the URLs it requested; its script errors."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    requests: list[str] = []
    problems: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page.on("pageerror", lambda error: problems.append(str(error)))
    # The browser logs every 4xx it is handed ("Failed to load resource"): not the page's fault.
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.goto(api.base_url + "/docs")
    expect(page.locator("body.explorer-ready")).to_have_count(1, timeout=WAIT_MS)
    yield page, requests, problems
    context.close()


def test_every_get_operation_has_a_form(api: Api, docs: tuple[Page, list[str], list[str]]) -> None:
    """One form per GET operation of /docs/openapi.json, with a field per query/header parameter."""
    page, requests, problems = docs
    document = api.get("/docs/openapi.json").json()
    operations = {path: ops["get"] for path, ops in document["paths"].items() if "get" in ops}
    assert page.locator("form.try").count() == len(operations)
    form = page.locator("section[data-path='/convert'] form.try")
    names = {p["name"] for p in operations["/convert"]["parameters"]}
    assert set(form.locator("[data-in]").evaluate_all("nodes => nodes.map(n => n.name)")) == names
    assert all(url.startswith(api.base_url + "/") for url in requests), requests
    assert problems == []


def _send(page: Page, path: str, method: str = "GET", **fields: str) -> tuple[str, str]:
    """Fill the form of `path`, send it, and return (status line, body text) as shown."""
    form = page.locator(f"section[data-path='{path}'] form.try")
    for name, value in fields.items():
        form.locator(f"[name='{name}'][data-in]").fill(value)
    form.locator("select[name='method']").select_option(method)
    form.locator("button[type='submit']").click()
    status = form.locator(".status")
    expect(status).not_to_have_text("sending…", timeout=WAIT_MS)
    expect(status).not_to_be_empty(timeout=WAIT_MS)
    return status.inner_text(), form.locator(".body").inner_text()


def test_try_convert_shows_the_api_answer(
    api: Api, docs: tuple[Page, list[str], list[str]]
) -> None:
    """Sending /convert from the form shows 200 and exactly the JSON the API answers."""
    page, requests, problems = docs
    status, body = _send(page, "/convert", amount="2", to="USDT")
    assert status.startswith("200 OK"), status
    expected = api.get("/convert", amount="2", **{"from": "BTC", "to": "USDT"}).json()
    assert json.loads(body) == expected
    headers = page.locator("section[data-path='/convert'] .headers").text_content() or ""
    assert "cache-control" in headers
    assert "content-length" in headers
    assert any("/convert?amount=2&from=BTC&to=USDT" in url for url in requests), requests
    assert problems == []


def test_try_shows_errors_head_and_304(api: Api, docs: tuple[Page, list[str], list[str]]) -> None:
    """An error shows its JSON; HEAD shows no body; the ETag given back shows 304."""
    page, _, problems = docs
    status, body = _send(page, "/convert", amount="-1")
    assert status.startswith("400"), status
    assert json.loads(body)["error"] == "invalid_amount"
    status, body = _send(page, "/convert", "HEAD", amount="1")
    assert status.startswith("200"), status
    assert body == "(no body)"
    # An hour back: a historical answer, cacheable, so it has an ETag (latest has none).
    at = format_iso_ms(time.time_ns() // 1_000_000 - 3_600_000)
    etag = api.get("/convert", amount="1", timestamp=at, **{"from": "BTC", "to": "USDT"})
    status, body = _send(page, "/convert", timestamp=at, **{"If-None-Match": etag.headers["etag"]})
    assert status.startswith("304"), status
    assert body == "(no body)"
    assert problems == []


def test_descriptions_show_no_markdown_syntax(docs: tuple[Page, list[str], list[str]]) -> None:
    """What the reader sees has no backticks or ** left: the Markdown was rendered."""
    page, _, _ = docs
    text = page.locator("main").inner_text()
    assert "`" not in text
    assert "**" not in text
    assert page.locator("main code", has_text="payload_too_large").count() >= 1
