"""Guides' hours in a real browser: the guide keeps weekly windows in place (add, a refused window, remove)
through htmx with axe-core content after every swap; the same form works with JavaScript switched off; the
coordinator's week view moves from week to week and stays accessible.

The demo guide's language is German and the German texts are not translated yet, so nothing here asserts
wording: times, addresses, ARIA state and focus are what a person (and a screen reader) would notice.
Every change is undone at the end of its test (the live server's database is shared by the session)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from .conftest import assert_no_axe_violations, login, submit_by_htmx

pytestmark = pytest.mark.browser

GUIDE = "guide@demo.example"
COORDINATOR = "coordinator@demo.example"
SATURDAY = "5"  # an evening slot on Saturday: none of the demo guide's windows is there


def open_own_hours(page: Any) -> str:  # noqa: ANN401
    """Follow the guide's 'My hours' link in the main navigation; returns the page's address."""
    link = page.locator("nav.site-nav a[href^='/guides/'][href$='/hours']")
    assert link.count() == 1, "the guide's navigation should lead to their hours"
    href = link.get_attribute("href")
    link.click()
    page.wait_for_url(lambda url: urlsplit(url).path == href)
    page.wait_for_load_state("load")
    return href


def saturday_cell(page: Any) -> Any:  # noqa: ANN401
    return page.locator("#windows tbody tr").nth(5).locator("td")


def fill_window(page: Any, weekday: str, start: str, end: str) -> Any:  # noqa: ANN401
    form = page.locator("#windows form[hx-post$='/windows']")
    form.locator("select[name='window-weekday']").select_option(weekday)
    form.locator("input[name='window-start']").fill(start)
    form.locator("input[name='window-end']").fill(end)
    return form


def assert_errors_announced(page: Any, field_id: str, label: str) -> None:  # noqa: ANN401
    """After a refused form: the field is marked and described by its message, the summary is focused."""
    field = page.locator(f"#{field_id}")
    assert field.get_attribute("aria-invalid") == "true", f"{label}: {field_id} is not marked invalid"
    described = (field.get_attribute("aria-describedby") or "").split()
    assert f"{field_id}-error" in described, f"{label}: {field_id} is not described by its error"
    assert page.locator(f"#{field_id}-error").inner_text().strip(), f"{label}: the error message is empty"
    assert page.locator("#windows [role='alert']").count() == 1, f"{label}: the errors are not announced"
    focused = page.evaluate("() => !!document.activeElement?.matches('[data-focus-on-swap]')")
    assert focused, f"{label}: the error summary did not get the focus after the swap"


def test_guide_adds_and_removes_a_window_in_place(page: Any) -> None:  # noqa: ANN401
    login(page, GUIDE)
    hours = open_own_hours(page)
    assert_no_axe_violations(page, "the guide's hours")
    url_before = page.url

    # add a window: only the windows section is swapped, the page is not reloaded
    page.evaluate("() => { window.__notReloaded = true; }")
    form = fill_window(page, SATURDAY, "18:00", "20:00")
    submit_by_htmx(page, form.locator("button[type=submit]"), 200)
    assert page.evaluate("() => window.__notReloaded === true"), "the page was reloaded instead of swapped"
    assert page.url == url_before
    assert "18:00–20:00" in saturday_cell(page).inner_text()
    assert page.locator("#windows [role='status']").inner_text().strip(), "the change is not announced"
    assert_no_axe_violations(page, "hours after adding a window")

    # an overlapping window is refused inline, the typed times stay
    form = fill_window(page, SATURDAY, "19:00", "21:00")
    submit_by_htmx(page, form.locator("button[type=submit]"), 422)
    assert_errors_announced(page, "window-start", "overlapping window")
    assert page.locator("#window-start").input_value() == "19:00"
    assert page.locator("#window-end").input_value() == "21:00"
    assert saturday_cell(page).locator(".window-chip").count() == 1, "the refused window must not appear"
    assert_no_axe_violations(page, "hours with an overlapping window refused")

    # a time off the quarter hours is refused too
    form = fill_window(page, SATURDAY, "07:10", "09:00")
    submit_by_htmx(page, form.locator("button[type=submit]"), 422)
    assert_errors_announced(page, "window-start", "not a quarter hour")
    assert_no_axe_violations(page, "hours with a time off the quarter hours")

    # remove it again
    remove = saturday_cell(page).locator("form[action$='/delete'] button")
    assert remove.count() == 1
    submit_by_htmx(page, remove, 200)
    assert "18:00" not in saturday_cell(page).inner_text()
    assert page.locator("#windows [role='status']").inner_text().strip(), "the removal is not announced"
    assert_no_axe_violations(page, "hours after removing a window")

    # what was swapped in is what the server has
    page.goto(hours)
    assert "18:00" not in saturday_cell(page).inner_text()


def test_the_window_form_works_without_javascript(new_page: Any) -> None:  # noqa: ANN401
    page = new_page(java_script_enabled=False)
    login(page, GUIDE)
    hours = open_own_hours(page)

    form = fill_window(page, SATURDAY, "12:00", "09:00")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state("load")
    assert urlsplit(page.url).path == urlsplit(hours).path.rsplit("/", 1)[0] + "/windows"  # the 422 page
    field = page.locator("#window-end")
    assert field.get_attribute("aria-invalid") == "true"
    assert page.locator("#window-end-error").inner_text().strip()
    assert page.locator("#window-start").input_value() == "12:00", "the typed time is lost"
    assert page.locator("h1").count() == 1, "a plain post answers with the whole page"

    form = fill_window(page, SATURDAY, "09:00", "12:00")
    form.locator("button[type=submit]").click()
    page.wait_for_url(lambda url: urlsplit(url).path == hours)  # 303 back to the page
    assert "09:00–12:00" in saturday_cell(page).inner_text()
    assert page.locator("#flash .kern-alert").count() == 1, "the change is not confirmed"

    saturday_cell(page).locator("form[action$='/delete'] button").click()
    page.wait_for_url(lambda url: urlsplit(url).path == hours)
    assert "09:00" not in saturday_cell(page).inner_text()


def test_coordinator_moves_through_the_weeks(page: Any) -> None:  # noqa: ANN401
    login(page, COORDINATOR)
    link = page.locator("nav.site-nav a[href='/c/siegen/week']")
    assert link.count() == 1, "the coordinator's navigation should lead to the week view"
    link.click()
    page.wait_for_url("**/c/siegen/week")
    page.wait_for_load_state("load")
    assert_no_axe_violations(page, "week view")
    first_heading = page.locator("#week-heading").inner_text()
    guides = page.locator("#week tbody th[scope='row']").all_inner_texts()
    assert "Gisela Gästeführerin" in guides
    assert re.search(r"\d\d:\d\d–\d\d:\d\d", page.locator("#week tbody").inner_text()), "no window is shown"

    next_link = page.locator("#week nav a").nth(2)
    target = next_link.get_attribute("href")
    page.evaluate("() => { window.__notReloaded = true; }")
    with page.expect_response(lambda r: "/c/siegen/week?start=" in r.url) as answer:
        next_link.click()
    assert answer.value.request.headers.get("hx-request") == "true", "the week was not fetched by htmx"
    page.wait_for_url(lambda url: url.endswith(target))  # pushed to the history
    page.wait_for_function(
        "(before) => document.querySelector('#week-heading').innerText !== before", arg=first_heading
    )
    assert page.evaluate("() => window.__notReloaded === true"), "the page was reloaded instead of swapped"
    assert page.evaluate("() => document.activeElement?.id") == "week-heading", (
        "focus did not move to the week"
    )
    assert parse_qs(urlsplit(page.url).query)["start"] == [target.rsplit("=", 1)[1]]
    assert_no_axe_violations(page, "week view after moving to the next week")

    # the pushed address is a page of its own, and back goes back
    page.reload()
    assert page.locator("h1").count() == 1
    assert page.locator("#week-heading").inner_text() != first_heading
    assert_no_axe_violations(page, "next week loaded directly")
    page.go_back()
    page.wait_for_function(
        "(before) => document.querySelector('#week-heading')?.innerText === before", arg=first_heading
    )
