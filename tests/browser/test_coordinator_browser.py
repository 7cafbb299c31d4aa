"""Issue 6 in a real browser: the coordinator's start page, the reports (charts and tables, the period changed
through htmx), the city settings with an error, and the audit log — axe-core finds no WCAG 2.1 A/AA
violation on any of them, nor after a swap.

This module runs its own server (the demo region plus a history of tours in Siegen), so the tours, mail and
log entries it adds never meet the other browser tests. Nothing here asserts German wording."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from .conftest import LiveServer, assert_no_axe_violations, login, path_of, start_live_server, submit_by_htmx

pytestmark = pytest.mark.browser

COORDINATOR = "coordinator@demo.example"
ADMIN = "admin@demo.example"
BERLIN = ZoneInfo("Europe/Berlin")


def _history(app: Any) -> None:  # noqa: ANN401
    """Siegen's last months: held tours with ratings, no-shows, cancellations, one that needs a guide, one
    not marked, a failed mail and audit entries."""
    from sqlalchemy import select

    from tourbook.extensions import db
    from tourbook.models import AuditEntry, City, Company, OutboxMessage, Role, Tour, User

    with app.app_context():
        city = db.session.execute(select(City).where(City.slug == "siegen")).scalar_one()
        companies = db.session.execute(select(Company).order_by(Company.id)).scalars().all()
        guides = db.session.execute(
            select(User).where(User.city_id == city.id, User.role == Role.GUIDE).order_by(User.id)
        ).scalars().all()
        today = datetime.now(BERLIN).date()
        languages = ("de", "en", "tr", "de", "en")
        interests = ("housing,schools", "culture", "sports,nature", "", "shopping,work")

        def tour(day: date, hour: int, status: str, n: int, **fields: Any) -> Tour:  # noqa: ANN401
            start = datetime.combine(day, time(hour), BERLIN).astimezone(UTC)
            end = start + timedelta(hours=2)
            guide = guides[n % len(guides)] if status != "needs_guide" else None
            row = Tour(
                uid=secrets.token_hex(16), token=secrets.token_urlsafe(24), city_id=city.id,
                company_id=companies[n % len(companies)].id, booked_by_id=None,
                guide_id=guide.id if guide else None, status=status, starts_at=start, ends_at=end,
                blocked_until=end + timedelta(minutes=15), consent_at=start - timedelta(days=7),
                partner_first_name=f"Partner {n}", partner_language=languages[n % 5],
                interests=interests[n % 5], people=1 + n % 4, sequence=0,
                created_at=start - timedelta(days=7), updated_at=start - timedelta(days=7), **fields,
            )
            db.session.add(row)
            return row

        n = 0
        for days_ago in range(4, 150, 3):
            n += 1
            status = "done" if n % 7 else "no_show"
            if n % 9 == 0:
                status = "cancelled"
            extra: dict[str, Any] = {}
            if status == "done" and n % 2:
                extra["feedback_rating"] = 1 + n % 5
            if status == "cancelled":
                extra.update(cancelled_by=("hr", "partner", "coordinator")[n % 3],
                             cancelled_at=datetime.now(UTC) - timedelta(days=days_ago + 1))
            tour(today - timedelta(days=days_ago), 9 + n % 8, status, n, **extra)
        tour(today - timedelta(days=3), 10, "confirmed", n + 1)  # not marked as held or missed
        tour(today + timedelta(days=5), 14, "needs_guide", n + 2)
        tour(today + timedelta(days=6), 10, "confirmed", n + 3)
        db.session.add(OutboxMessage(dedupe_key="browser-failed-mail", kind="guide_booked",
                                     recipient="guide@demo.example", subject="Tour", body_text="…",
                                     body_html="<p>…</p>", city_id=city.id, status="failed",
                                     last_error="550 mailbox unavailable"))
        for i, action in enumerate(("tour_booked", "tour_cancelled", "city_settings_updated")):
            db.session.add(AuditEntry(at=datetime.now(UTC) - timedelta(days=i), actor_label=COORDINATOR,
                                      action=action, object_type="tour" if i < 2 else "city",
                                      object_id=i + 1, city_id=city.id, details={"by": "hr"}))
        db.session.commit()
        db.session.remove()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """This module's own server: the demo region and Siegen's history (overrides the shared one)."""
    server = start_live_server(tmp_path_factory.mktemp("coordinator-browser"))
    _history(server.app)
    yield server
    server.stop()


def is_htmx(response: Any) -> bool:  # noqa: ANN401
    return response.request.headers.get("hx-request") == "true"


def test_dashboard_has_no_violations(page: Any) -> None:  # noqa: ANN401
    login(page, COORDINATOR)
    assert path_of(page) == "/c/siegen/"
    assert page.locator("#attention-heading").is_visible()
    # the tour that needs a guide, the unmarked one and the failed mail are listed
    attention = page.locator("section[aria-labelledby='attention-heading']")
    assert attention.locator("a[href^='/tours/']").count() >= 2
    assert attention.locator("a[href='/c/siegen/messages/']").count() == 1
    assert page.locator("section[aria-labelledby='load-heading'] progress").count() >= 1
    assert_no_axe_violations(page, "coordinator's start page")


def test_reports_change_the_period_through_htmx(page: Any) -> None:  # noqa: ANN401
    login(page, COORDINATOR)
    page.goto("/reports/")
    assert page.locator("#report svg[role='img']").count() == 8
    assert page.locator("#report table").count() == 8
    assert_no_axe_violations(page, "reports")

    today = datetime.now(BERLIN).date()
    start = (today - timedelta(days=60)).isoformat()
    page.evaluate("() => { window.__reportBefore = document.getElementById('report');"
                  " window.__statusBefore = document.getElementById('report-status'); }")
    with page.expect_response(lambda r: r.url.split("?")[0].endswith("/reports/") and is_htmx(r)) as answer:
        page.fill("#report-from", start)
        page.locator("#report-from").dispatch_event("change")
    assert answer.value.status == 200
    page.wait_for_function("() => document.getElementById('report') !== window.__reportBefore")
    # the fragment was swapped in, not a new page
    assert page.evaluate("() => window.__reportBefore !== undefined")
    assert page.locator("#report").count() == 1 and page.locator("h1").count() == 1
    page.wait_for_function(f"() => location.search.includes('from={start}')")
    query = parse_qs(urlsplit(page.url).query)
    assert query["from"] == [start]
    csv_link = page.locator("#report a[download]").get_attribute("href")
    assert f"from={start}" in csv_link
    assert page.locator("#report svg[role='img']").count() == 8
    # the live region that stayed in the page now says what changed
    assert page.locator("#report-status").inner_text().strip() != ""
    assert page.locator("#report-status").count() == 1
    assert page.evaluate("() => document.getElementById('report-status') === window.__statusBefore")
    assert_no_axe_violations(page, "reports after changing the period")

    # the pushed URL is a full page of its own
    page.reload()
    assert page.locator("#report-from").input_value() == start
    assert_no_axe_violations(page, "reports at the pushed URL")


def test_reports_with_a_bad_period_show_a_message(page: Any) -> None:  # noqa: ANN401
    login(page, COORDINATOR)
    page.goto("/reports/?from=2026-03-31&to=2026-01-01")
    assert page.locator("#report [role='status']").count() >= 1
    assert_no_axe_violations(page, "reports with a swapped period")


def test_admin_reports_for_all_cities_and_one(page: Any) -> None:  # noqa: ANN401
    login(page, ADMIN)
    page.goto("/reports/")
    assert page.locator("#report-city").count() == 1
    assert_no_axe_violations(page, "admin's reports")
    with page.expect_response(lambda r: "city=siegen" in r.url and is_htmx(r)):
        page.select_option("#report-city", "siegen")
    page.wait_for_function("() => location.search.includes('city=siegen')")
    page.wait_for_function("() => document.querySelector('h1').textContent.includes('Siegen')")
    assert page.locator("h1").count() == 1
    assert_no_axe_violations(page, "admin's reports for one city")


def test_settings_give_the_privacy_notices_room(page: Any) -> None:  # noqa: ANN401
    """The two privacy notices are text boxes of six lines, and the second one's label keeps the distance of
    the fields above from the first box (it touched it, and the boxes had two lines whatever they asked for)."""
    login(page, COORDINATOR)
    page.goto("/c/siegen/settings/")
    first, second_label = page.locator("#privacy_text_de"), page.locator("label[for=privacy_text_en]")
    line = float(first.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)"))
    assert first.bounding_box()["height"] >= 6 * line, "the text box is shorter than its six rows"
    gap = second_label.bounding_box()["y"] - (first.bounding_box()["y"] + first.bounding_box()["height"])
    assert gap >= 20, f"only {gap}px between the German notice and the English one's label"


def test_settings_with_an_error_then_saved(page: Any) -> None:  # noqa: ANN401
    login(page, COORDINATOR)
    page.goto("/c/siegen/settings/")
    assert_no_axe_violations(page, "city settings")
    form = page.locator("main form[method='post']")
    form.locator("#min_duration_minutes").fill("200")
    form.locator("#max_duration_minutes").fill("120")
    form.locator("#buffer_minutes").fill("-5")
    submit_by_htmx(page, form.locator("button[type=submit]"), 422)
    assert page.locator("main [aria-invalid='true']").count() == 2
    assert page.locator("#max_duration_minutes").input_value() == "120", "what was entered is kept"
    focused = page.evaluate("() => !!document.activeElement?.matches('[data-focus-on-swap]')")
    assert focused, "the error summary should get the focus after the swap"
    assert page.locator("main [role='alert']").count() >= 1
    for invalid in page.locator("main [aria-invalid='true']").all():
        described = (invalid.get_attribute("aria-describedby") or "").split()
        assert any(page.locator(f"#{i}.kern-error").count() for i in described)
    assert_no_axe_violations(page, "city settings with errors")

    form = page.locator("main form[method='post']")
    form.locator("#min_duration_minutes").fill("60")
    form.locator("#max_duration_minutes").fill("240")
    form.locator("#buffer_minutes").fill("15")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert path_of(page) == "/c/siegen/settings/"
    assert page.locator("#flash [role='status']").count() == 1
    assert_no_axe_violations(page, "city settings saved")


def test_audit_log_and_its_filter(page: Any) -> None:  # noqa: ANN401
    login(page, COORDINATOR)
    page.goto("/audit/")
    assert page.locator("#entries tbody tr").count() >= 3
    assert_no_axe_violations(page, "audit log")
    with page.expect_response(lambda r: "object=city" in r.url and is_htmx(r)):
        page.select_option("#object", "city")
    page.wait_for_function("() => location.search.includes('object=city')")
    page.wait_for_function("() => document.querySelectorAll('#entries tbody tr').length >= 1")
    objects = page.locator("#entries tbody td:nth-child(4)").all_inner_texts()
    assert objects and all(text.startswith(("Stadt #", "City #")) for text in objects), objects
    assert_no_axe_violations(page, "audit log filtered")


def test_audit_filter_lines_its_fields_up_on_a_wide_screen(new_page: Any) -> None:  # noqa: ANN401
    """On a desktop the filter's fields stand in one row: every input and the button on one line, and no field
    stretched over a line of its own (the last one used to fill a second row by itself, its input lower
    than the others where a neighbour's label took two lines)."""
    for lang in ("de", "en"):
        page = new_page(viewport={"width": 1280, "height": 900})
        login(page, COORDINATOR)
        page.goto(f"/audit/?lang={lang}")
        boxes = page.locator("form[role=search]").evaluate(
            """form => [...form.querySelectorAll('input:not([type=hidden]), select, button')].map((e) => {
                const r = e.getBoundingClientRect(); return {name: e.name || e.type, bottom: r.bottom, width: r.width};
            })""")
        bottoms = [box["bottom"] for box in boxes]  # KERN's select is 2px shorter
        assert max(bottoms) - min(bottoms) <= 3, f"{lang}: the fields are not on one line: {boxes}"
        widths = [box["width"] for box in boxes if box["name"] not in ("object_id", "submit")]
        assert max(widths) < 1.2 * min(widths), f"{lang}: one field is much wider than the others: {boxes}"
        assert_no_axe_violations(page, f"audit log filter ({lang})")


def test_audit_log_on_a_phone_scrolls_its_table_by_keyboard_too(new_page: Any) -> None:  # noqa: ANN401
    """The table is wider than a phone: it scrolls in its own box, which the keyboard reaches (a labelled
    region in the tab order), and the e-mail addresses of who did it stay whole words."""
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    login(page, COORDINATOR)
    page.goto("/audit/")
    entries = page.locator("#entries")
    assert entries.evaluate("e => e.scrollWidth > e.clientWidth"), "the table fits: nothing to test"
    assert_no_axe_violations(page, "audit log on a phone")
    page.locator("form[role=search] button[type=submit]").focus()
    page.keyboard.press("Tab")  # from the filter's last control to the table
    assert page.evaluate("() => document.activeElement.id") == "entries"
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineWidth") == "4px"  # seen focused
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.getElementById('entries').scrollLeft > 0")
    who = page.locator("#entries tbody td:nth-child(2)").first
    lines = who.evaluate("e => { const r = document.createRange(); r.selectNodeContents(e); "
                         "return new Set([...r.getClientRects()].map((box) => box.top)).size; }")
    assert who.inner_text() == COORDINATOR and lines == 1, f"the address broke into {lines} lines"


def test_privacy_and_accessibility_pages(page: Any) -> None:  # noqa: ANN401
    page.goto("/privacy/siegen")
    assert_no_axe_violations(page, "privacy notice")
    page.goto("/accessibility")
    assert page.locator("main a[href^='mailto:']").count() >= 1
    assert_no_axe_violations(page, "accessibility statement")
