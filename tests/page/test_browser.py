"""The page in a real headless Chromium against the real API over a real store.

What the page shows is compared with what the API answers to the same
question, asked here over HTTP: the page must show the API's figures exactly
(the strings, not a re-rounded float). Every request the browser makes is
recorded, and none may leave the API's origin.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response, expect

from tests.page.conftest import SCREENSHOTS, VENUES, Api

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
WAIT_MS = 10_000


@dataclass
class Visit:
    """One page load, with everything the browser did and said."""

    page: Page
    origin: str
    requests: list[str] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    console_errors: list[ConsoleMessage] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def urls(self, path: str) -> list[str]:
        """Requested URLs whose path is `path` (query string ignored)."""
        prefix = self.origin + path
        return [u for u in self.requests if u == prefix or u.startswith(prefix + "?")]


@pytest.fixture
def visit(api: Api, browser: Browser) -> Iterator[Callable[..., Visit]]:
    """Open the page in a fresh browser context and wait until its first figures are in."""
    contexts: list[Any] = []

    def open_page(viewport: dict[str, int] = DESKTOP) -> Visit:
        # Fixed zone and locale: the screenshots and times read the same on any machine.
        context = browser.new_context(viewport=viewport, locale="en-GB", timezone_id="UTC")
        contexts.append(context)
        page = context.new_page()
        visit = Visit(page, api.base_url)

        def on_request(request: Request) -> None:
            visit.requests.append(request.url)

        def on_response(response: Response) -> None:
            visit.responses.append(response)

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                visit.console_errors.append(message)

        context.on("request", on_request)
        page.on("response", on_response)
        page.on("console", on_console)
        page.on("pageerror", lambda error: visit.page_errors.append(str(error)))
        page.goto(api.base_url + "/")
        expect(page.locator("#convert-ok")).to_be_visible(timeout=WAIT_MS)
        expect(page.locator("#status-list li")).to_have_count(len(VENUES), timeout=WAIT_MS)
        return visit

    yield open_page
    for context in contexts:
        context.close()


def convert(api: Api, page: Page, **params: str) -> dict[str, Any]:
    """What /convert answers for the page's current venue and the given parameters."""
    venue = page.locator("#venue").input_value()
    response = api.get("/convert", **params, **({"exchange": venue} if venue else {}))
    body: dict[str, Any] = response.json()
    return body


def trim(decimal: str) -> str:
    """The page's display of a decimal string: trailing fraction zeros dropped (same value)."""
    return decimal.rstrip("0").rstrip(".") if "." in decimal else decimal


# -- loading ------------------------------------------------------------------------------


def test_page_loads_cleanly(api: Api, visit: Callable[..., Visit]) -> None:
    """The page loads with no console error, asks nothing outside the origin, weighs < 150 KB."""
    v = visit()
    expect(v.page.locator("#board-body tr")).to_have_count(len(VENUES), timeout=WAIT_MS)
    v.page.wait_for_load_state("networkidle")
    assert v.page_errors == []
    assert [(m.text, m.location) for m in v.console_errors] == []
    # data: is the inline empty favicon, not a network request.
    outside = [u for u in v.requests if not u.startswith((api.base_url + "/", "data:"))]
    assert outside == []
    assert v.urls("/static/app.js")
    assert v.urls("/static/style.css")
    page_files = [r for r in v.responses if r.url == api.base_url + "/" or "/static/" in r.url]
    assert {r.status for r in page_files} == {200}
    assert sum(len(r.body()) for r in page_files) < 150 * 1024


# -- converter ------------------------------------------------------------------------------


def test_converter_shows_the_api_amount(api: Api, visit: Callable[..., Visit]) -> None:
    """Converting 0.5 BTC to USDT shows exactly the amount and rate /convert returns."""
    page = visit().page
    page.fill("#amount", "0.5")
    page.fill("#from", "btc")
    page.fill("#to", "usdt")
    page.click("#convert-btn")
    expected = convert(api, page, amount="0.5", **{"from": "BTC", "to": "USDT"})
    assert "amount" in expected, expected
    expect(page.locator("#r-amount")).to_have_text(expected["amount"], timeout=WAIT_MS)
    expect(page.locator("#r-rate")).to_have_text(f"1 BTC = {expected['rate']} USDT")
    expect(page.locator("#r-quoted")).to_have_attribute("datetime", expected["quoted_at"])


def test_venue_best_shows_the_winner(api: Api, visit: Callable[..., Visit]) -> None:
    """Switching the venue to best shows the winning venue, its amount, and every venue's rate."""
    page = visit().page
    page.select_option("#venue", "best")
    expected = convert(api, page, amount="1", **{"from": "BTC", "to": "USDT"})
    assert expected["venue"] == "kraken"  # the store gives kraken the highest bid
    expect(page.locator("#r-winner")).to_have_text(expected["venue"], timeout=WAIT_MS)
    expect(page.locator("#r-amount")).to_have_text(expected["amount"])
    rows = page.locator("#sources-body tr")
    expect(rows).to_have_count(len(expected["sources"]))
    expect(page.locator("#sources-body tr.chosen")).to_have_attribute("data-venue", "kraken")
    expect(page.locator('#sources-body tr[data-venue="okx"]')).to_contain_text("outdated")
    for source in expected["sources"]:
        if source["exchange"] not in ("kraken", "okx"):  # candidates that lost
            row = page.locator(f'#sources-body tr[data-venue="{source["exchange"]}"]')
            expect(row).to_contain_text(f"{trim(source['rate'])}pays less")


def test_venue_average_lists_used_and_excluded(api: Api, visit: Callable[..., Visit]) -> None:
    """With average, the page shows /convert's amount and marks each venue used or excluded."""
    page = visit().page
    page.select_option("#venue", "average")
    expected = convert(api, page, amount="1", **{"from": "BTC", "to": "USDT"})
    expect(page.locator("#r-amount")).to_have_text(expected["amount"], timeout=WAIT_MS)
    used = [s for s in expected["sources"] if s["used"]]
    expect(page.locator("#r-venue")).to_have_text(f"average of {len(used)} venues")
    for source in expected["sources"]:
        row = page.locator(f'#sources-body tr[data-venue="{source["exchange"]}"]')
        expect(row).to_contain_text("used" if source["used"] else "excluded")


def test_invalid_amount_shows_the_api_message(api: Api, visit: Callable[..., Visit]) -> None:
    """An amount the API refuses shows the API's own message, and no stale figures."""
    page = visit().page
    page.fill("#amount", "12,5")
    page.click("#convert-btn")
    expected = convert(api, page, amount="12,5", **{"from": "BTC", "to": "USDT"})
    assert expected["error"] == "invalid_amount"
    expect(page.locator("#convert-error")).to_have_text(expected["message"], timeout=WAIT_MS)
    expect(page.locator("#convert-ok")).to_be_hidden()


# -- chart ------------------------------------------------------------------------------------


def test_chart_draws_one_mark_per_point(api: Api, visit: Callable[..., Visit]) -> None:
    """The chart draws one mark per /rates point, in order, for 24 h and for 7 days."""
    v = visit()
    for hours, button in ((24, None), (168, "#range-7d")):
        if button:
            with v.page.expect_response(lambda r: "/rates?" in r.url):
                v.page.click(button)
        else:
            expect(v.page.locator("#chart-summary")).to_be_visible(timeout=WAIT_MS)
        url = v.urls("/rates")[-1]
        body = api.client.get(url).json()
        points = body["points"]
        assert points, body
        marks = v.page.locator("#plot circle.pt")
        expect(marks).to_have_count(len(points), timeout=WAIT_MS)
        assert marks.evaluate_all("ms => ms.map(m => m.dataset.rate)") == [
            p["rate"] for p in points
        ]
        summary = body["summary"]
        expect(v.page.locator("#s-min")).to_have_text(trim(summary["min"]))
        expect(v.page.locator("#s-max")).to_have_text(trim(summary["max"]))
        query = parse_qs(urlsplit(url).query)
        span = _ms(query["end"][0]) - _ms(query["start"][0])
        assert span == hours * 3_600_000


def test_chart_reads_values_by_pointer_and_keyboard(api: Api, visit: Callable[..., Visit]) -> None:
    """Pointer and arrow keys put a point's value and time under the cursor and in the readout."""
    v = visit()
    expect(v.page.locator("#chart-summary")).to_be_visible(timeout=WAIT_MS)
    points = api.client.get(v.urls("/rates")[-1]).json()["points"]
    v.page.focus("#chart-svg")
    v.page.keyboard.press("End")
    expect(v.page.locator("#chart-readout")).to_contain_text(trim(points[-1]["rate"]))
    v.page.keyboard.press("ArrowLeft")
    expect(v.page.locator("#chart-readout")).to_contain_text(trim(points[-2]["rate"]))
    first = v.page.locator("#plot circle.pt").first.bounding_box()
    assert first is not None
    v.page.mouse.move(first["x"] + 1, first["y"] + 1)
    expect(v.page.locator("#chart-readout")).to_contain_text(trim(points[0]["rate"]))
    expect(v.page.locator("#plot .cursor text")).to_contain_text(trim(points[0]["rate"]))


def test_chart_explains_a_missing_history(visit: Callable[..., Visit]) -> None:
    """When /rates answers an error, the chart shows a sentence instead of a broken drawing."""
    v = visit()
    v.page.route(
        "**/rates?**",
        lambda route: route.fulfill(
            status=404,
            json={"error": "not_found", "message": "There is no such endpoint."},
        ),
    )
    v.page.click("#range-7d")
    expect(v.page.locator("#chart-error")).to_have_text(
        "Rate history is not available from this server yet.", timeout=WAIT_MS
    )
    expect(v.page.locator("#plot circle")).to_have_count(0)
    v.page.route(
        "**/rates?**",
        lambda route: route.fulfill(
            status=404,
            json={"error": "quotes_not_found", "message": "No quotes in that range."},
        ),
    )
    v.page.click("#range-24h")
    expect(v.page.locator("#chart-error")).to_have_text("No quotes in that range.")


# -- venue board and status ---------------------------------------------------------------


def test_board_highlights_best_bid_and_ask(api: Api, visit: Callable[..., Visit]) -> None:
    """The board shows each venue's bid, ask, mid; the best bid and best ask are marked."""
    page = visit().page
    body = api.get("/prices", pair="BTC/USDT").json()
    quotes = body["pairs"]["BTC/USDT"]["exchanges"]
    best_bid = max(quotes, key=lambda v: Decimal(quotes[v]["bid"]))
    best_ask = min(quotes, key=lambda v: Decimal(quotes[v]["ask"]))
    assert (best_bid, best_ask) == ("kraken", "bybit")  # as the store was written
    for venue, quote in quotes.items():
        row = page.locator(f'#board-body tr[data-venue="{venue}"]')
        expect(row).to_contain_text(quote["bid"], timeout=WAIT_MS)
        expect(row).to_contain_text(quote["ask"])
        expect(row).to_contain_text(trim(quote["mid"]))
    expect(page.locator("#board-body td.best")).to_have_count(2)
    bid_cell = page.locator(f'#board-body tr[data-venue="{best_bid}"] td.best')
    expect(bid_cell).to_contain_text(quotes[best_bid]["bid"])
    expect(bid_cell).to_contain_text("best bid")
    ask_cell = page.locator(f'#board-body tr[data-venue="{best_ask}"] td.best')
    expect(ask_cell).to_contain_text("best ask")
    expect(page.locator('#board-body tr[data-venue="okx"]')).to_contain_text("outdated")


def test_status_refreshes_every_10_seconds(api: Api, visit: Callable[..., Visit]) -> None:
    """The status block asks /exchanges again about 10 s later and redraws, with no reload."""
    v = visit()
    checked = v.page.locator("#status-checked")
    first = checked.get_attribute("datetime")
    assert first
    started = time.monotonic()
    expect(checked).not_to_have_attribute("datetime", first, timeout=15_000)
    second = checked.get_attribute("datetime")
    assert second
    gap = (_ms(second) - _ms(first)) / 1000
    assert 9.5 <= gap <= 12.5, gap
    assert time.monotonic() - started < 15
    assert len(v.urls("/exchanges")) >= 2
    assert len([u for u in v.requests if u == api.base_url + "/"]) == 1  # no reload
    statuses = v.page.locator("#status-list li").evaluate_all(
        "items => Object.fromEntries(items.map(i => [i.dataset.venue, i.dataset.status]))"
    )
    expected = api.get("/exchanges").json()
    assert statuses == {venue: info["status"] for venue, info in _venues(expected).items()}
    assert statuses["okx"] == "outdated"


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def _venues(body: dict[str, Any]) -> dict[str, Any]:
    block = body.get("exchanges", body)
    if isinstance(block, list):
        return {item.get("exchange") or item["name"]: item for item in block}
    return dict(block)


# -- usability --------------------------------------------------------------------------------


def test_keyboard_focus_follows_the_page(visit: Callable[..., Visit]) -> None:
    """Tab walks the form, then the chart range and the chart itself, in reading order."""
    page = visit().page
    page.focus("#amount")
    seen: list[str] = []
    for _ in range(30):
        focused = page.evaluate("document.activeElement.id")
        if not seen or seen[-1] != focused:
            seen.append(focused)
        page.keyboard.press("Tab")
    wanted = ["amount", "from", "swap", "to", "venue", "date", "time", "now", "convert-btn",
              "range-24h", "range-7d"]  # fmt: skip
    # First visits only: 30 presses may wrap around the page back to the top.
    assert list(dict.fromkeys(i for i in seen if i in wanted)) == wanted


def test_every_control_has_a_label(visit: Callable[..., Visit]) -> None:
    """Every input, select and button has an accessible name (label, aria-label or text)."""
    page = visit().page
    unnamed = page.locator("input, select, button").evaluate_all(
        """els => els.filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                                  && !e.textContent.trim()).map(e => e.outerHTML)"""
    )
    assert unnamed == []


def test_screenshots_desktop_and_phone(api: Api, visit: Callable[..., Visit]) -> None:
    """Desktop (1280x800) and phone (375x740) views render without sideways scrolling; saved."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        v = visit(viewport)
        v.page.fill("#amount", "0.5")
        v.page.select_option("#venue", "best")
        expect(v.page.locator("#r-winner")).to_be_visible(timeout=WAIT_MS)
        expect(v.page.locator("#board-body tr")).to_have_count(len(VENUES), timeout=WAIT_MS)
        v.page.wait_for_load_state("networkidle")
        v.page.evaluate("document.activeElement.blur()")  # no focus ring in the picture
        width = v.page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{name}: {width}px wide"
        v.page.screenshot(path=str(SCREENSHOTS / f"page-{name}.png"))
        if name == "phone":  # the phone's first screen is the form; the rest is below
            v.page.screenshot(path=str(SCREENSHOTS / "page-phone-full.png"), full_page=True)
