"""The web page in a real browser, on real servers of MovieLens-100K runs.

Each test opens its own tab, and ends by checking that the page logged no error and asked
nothing of any host but the server it came from.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.page.browser import API_KEY, PageServer, Watched

pytestmark = pytest.mark.slow

FIRST_PAINT_LIMIT_MS = 1000
UPDATE_LIMIT_MS = 1000


def enter_key(page: Any, key: str = API_KEY) -> None:
    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")


def open_user(page: Any, server: PageServer, user_id: str) -> None:
    """The user view of ``user_id`` with the API key entered (histories need it)."""
    page.goto(server.url + "/#/user")
    page.wait_for_selector("body[data-ready]")
    enter_key(page)
    page.wait_for_selector("body[data-ready=writable]")
    page.fill("#user-id", user_id)
    page.press("#user-id", "Enter")
    page.wait_for_selector("#recs li >> nth=9")


def item_ids(page: Any, selector: str) -> list[str]:
    return page.eval_on_selector_all(selector, "els => els.map(e => e.dataset.item)")


def test_overview_shows_the_run_at_first_paint(
    tab: Watched, multiscale_server: PageServer, screenshots: Path
) -> None:
    # A person's browser is already running: Chromium's own cold start is not the page's time.
    warm_up = tab.page.context.browser.new_context()
    warm_up.new_page().goto(multiscale_server.url + "/")
    warm_up.close()
    page = tab.page
    page.goto(multiscale_server.url + "/")
    page.wait_for_selector("body[data-ready]")
    paint = page.evaluate(
        "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null"
    )
    assert paint is not None and paint < FIRST_PAINT_LIMIT_MS, f"first paint after {paint} ms"
    assert page.inner_text("#stat-users") == "943"
    assert page.inner_text("#stat-items") == "1,682"
    assert page.inner_text("#stat-events") == "100,000"
    assert page.inner_text("#model-name") == "multiscale"
    assert "NDCG@10" in page.inner_text("#metrics-table")
    page.wait_for_selector("#chart-events canvas")
    page.wait_for_selector("#chart-curve canvas")
    page.wait_for_function("document.querySelector('#live-p50').textContent !== '…'")
    page.screenshot(path=screenshots / "overview.png", full_page=True)


def test_without_the_key_the_page_is_read_only_and_says_so(
    tab: Watched, multiscale_server: PageServer
) -> None:
    page = tab.page
    page.goto(multiscale_server.url + "/#/user/196")
    page.wait_for_selector("body[data-ready=read-only]")
    assert "posting events needs the API key" in page.inner_text("#read-only")
    assert "need the API key or the read key" in page.inner_text("#user-status")
    enter_key(page, "not-the-key")
    page.wait_for_selector("#key-status.bad")
    assert page.inner_text("#key-status") == "wrong key"
    assert page.evaluate("sessionStorage.length") == 0
    enter_key(page)  # the right key: kept for this tab, and the page starts afresh with it
    page.wait_for_selector("body[data-ready=writable]")
    assert page.is_hidden("#read-only")
    assert page.evaluate("Object.values(sessionStorage)") == [API_KEY]


def test_user_history_recommendations_and_a_posted_event(
    tab: Watched, multiscale_server: PageServer, screenshots: Path
) -> None:
    page = tab.page
    open_user(page, multiscale_server, "196")
    assert "User 196: " in page.inner_text("#history-summary")
    assert page.locator("#timeline circle").count() == 39  # the training events; posted: diamonds
    posted = page.locator("#timeline rect[transform]").count()
    titles = page.eval_on_selector_all("#recs li a", "els => els.map(e => e.textContent)")
    assert len(titles) == 10 and all(t and not t.startswith("item ") for t in titles)
    page.screenshot(path=screenshots / "user.png", full_page=True)

    before = item_ids(page, "#recs > li")
    button = page.locator("#recs > li >> nth=6").locator("button.act").first
    started = time.perf_counter()
    button.click()
    page.wait_for_function(
        "document.querySelector('#recs-note').textContent.includes('posted')",
        timeout=UPDATE_LIMIT_MS,
    )
    elapsed_ms = 1000 * (time.perf_counter() - started)
    assert elapsed_ms < UPDATE_LIMIT_MS
    after = item_ids(page, "#recs > li")
    assert after != before
    marked = page.locator("#recs li.moved-in, #recs li.moved").count()
    assert marked > 0
    moved_out = page.locator("#recs-out li").count()
    assert moved_out == len(set(before) - set(after))
    assert page.locator("#timeline rect[transform]").count() == posted + 1
    page.screenshot(path=screenshots / "user-after-event.png", full_page=True)


def test_multiscale_run_shows_its_scale_weights(
    tab: Watched, multiscale_server: PageServer, screenshots: Path
) -> None:
    page = tab.page
    open_user(page, multiscale_server, "196")
    page.wait_for_selector("#scales-panel:not([hidden]) .bar.average")
    names = page.eval_on_selector_all("#scales .scale strong", "els => els.map(e => e.textContent)")
    assert names == ["session", "day", "week", "all"]
    weights = page.eval_on_selector_all(
        "#scales .bar:not(.average)", "els => els.map(e => Number(e.getAttribute('aria-valuenow')))"
    )
    assert len(weights) == 4 and abs(sum(weights) - 1) < 0.01
    assert page.is_hidden("#interests-panel")
    page.locator("#scales-panel").screenshot(path=screenshots / "scales.png")


def test_interests_run_shows_its_interests(
    interests_tab: Watched, interests_server: PageServer, screenshots: Path
) -> None:
    page = interests_tab.page
    open_user(page, interests_server, "196")
    page.wait_for_selector("#interests-panel:not([hidden]) .interest")
    cards = page.locator("#interests .interest")
    assert cards.count() == 5  # four pooled interests and the recent one
    assert all(cards.nth(j).locator("ol >> nth=0").locator("li").count() == 5 for j in range(5))
    page.wait_for_selector("#chart-interests canvas")
    assert page.is_hidden("#scales-panel")
    page.screenshot(path=screenshots / "interests.png", full_page=True)


def test_item_view_names_both_kinds_of_neighbour(
    tab: Watched, multiscale_server: PageServer, screenshots: Path
) -> None:
    page = tab.page
    open_user(page, multiscale_server, "196")
    page.locator("#recs li a >> nth=0").click()  # an item opens from a recommendation
    page.wait_for_selector("#item-next li >> nth=9")
    page.goto(multiscale_server.url + "/#/item/50")
    page.wait_for_function(
        "document.querySelector('#item-title').textContent === 'Star Wars (1977)'"
    )
    page.wait_for_selector("#item-next li >> nth=9")
    assert page.locator("#item-nearest li").count() == 10
    assert "Sci-Fi" in page.inner_text("#item-attributes")
    assert page.inner_text("#item-rank") == "#1"
    assert page.locator("#item-recent li a").count() == 10
    assert "right after this item" in page.inner_text("#view-item")
    assert "Cosine similarity" in page.inner_text("#view-item")
    page.wait_for_selector("#chart-item canvas")
    page.screenshot(path=screenshots / "item.png", full_page=True)


def test_what_if_recommends_after_a_picked_session(
    tab: Watched, multiscale_server: PageServer, screenshots: Path
) -> None:
    page = tab.page
    open_user(page, multiscale_server, "196")  # recommendations need the key on this server
    page.goto(multiscale_server.url + "/#/whatif")
    page.fill("#whatif-q", "star")
    page.wait_for_function(
        "document.querySelector('#whatif-results li span')?.textContent === 'Star Wars (1977)'"
    )
    page.locator("#whatif-results button >> nth=0").click()
    page.wait_for_function(
        "document.querySelector('#whatif-note').textContent.startsWith('After 1')"
    )
    page.locator("#whatif-results button >> nth=1").click()
    page.wait_for_function(
        "document.querySelector('#whatif-note').textContent.startsWith('After 2')"
    )
    assert page.locator("#whatif-session li").count() == 2
    assert page.locator("#whatif-recs li").count() == 10
    page.screenshot(path=screenshots / "whatif.png", full_page=True)


def test_keyboard_and_labels(tab: Watched, multiscale_server: PageServer) -> None:
    page = tab.page
    page.goto(multiscale_server.url + "/")
    page.wait_for_selector("body[data-ready]")
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, button, a')]
            .filter(el => !(el.labels?.length || el.getAttribute('aria-label')
                            || el.textContent.trim()))
            .map(el => el.outerHTML)"""
    )
    assert unlabelled == []
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Overview"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the "User" section, by keyboard alone
    page.wait_for_selector("#view-user:not([hidden])")
    assert page.evaluate("document.activeElement.id") in ("main", "user-id")
    page.focus("#api-key")
    page.keyboard.type(API_KEY)
    page.keyboard.press("Enter")
    page.wait_for_selector("body[data-ready=writable]")
    page.focus("#user-id")
    page.keyboard.type("196")
    page.keyboard.press("Enter")
    page.wait_for_selector("#recs li >> nth=9")
