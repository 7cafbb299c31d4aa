"""Screenshots for looking at the layout: ``python -m tests.browser.screenshots`` (from the repository root).

Writes PNGs of the login page, a coordinator's page and a form with errors, on a phone (390x844) and a
desktop (1280x900), in German and English, to test-artifacts/screenshots/ (git-ignored). Not a test: it
asserts nothing about looks; a person (or a session) looks at the pictures."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .conftest import (
    launch_browser,
    login,
    missing_browser_parts,
    screenshot_dir,
    start_live_server,
    submit_by_htmx,
)

VIEWPORTS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 1},
    "desktop": {"viewport": {"width": 1280, "height": 900}, "device_scale_factor": 1},
}
LOCALES = {"de": "de-DE", "en": "en-GB"}


def shoot(page: Any, out: Path, name: str) -> Path:  # noqa: ANN401
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def take_all(base_url: str, browser: Any, out: Path) -> list[Path]:  # noqa: ANN401
    taken = []
    for device, options in VIEWPORTS.items():
        for lang, locale in LOCALES.items():
            context = browser.new_context(base_url=base_url, locale=locale, **options)
            page = context.new_page()
            page.goto("/login")
            taken.append(shoot(page, out, f"login-{device}-{lang}"))

            login(page, "coordinator@demo.example")
            page.goto(f"/c/siegen/guides?lang={lang}")  # the account's own setting would win otherwise
            taken.append(shoot(page, out, f"coordinator-guides-{device}-{lang}"))
            page.goto(f"/c/siegen/week?start={_next_monday()}")
            taken.append(shoot(page, out, f"coordinator-week-{device}-{lang}"))

            page.goto("/c/siegen/guides/new")
            form = page.locator("main form[hx-post='/c/siegen/guides/new']")
            form.locator("input[name=email]").fill("not an email")
            submit_by_htmx(page, form.locator("button[type=submit]"), 422)
            page.evaluate("() => document.activeElement && document.activeElement.blur()")
            taken.append(shoot(page, out, f"form-errors-{device}-{lang}"))
            context.close()
    taken += take_booking_flow(base_url, browser, out)
    taken += take_tour_lists(base_url, browser, out)
    return taken


def declined_english_tour(server: Any) -> int:  # noqa: ANN401
    """An English tour on a Tuesday afternoon four weeks ahead (only Hakan has hours), declined by Hakan: it
    needs a guide, and the coordinator's page offers the guides to choose from. Returns the tour's id."""
    from datetime import date, datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from sqlalchemy import select

    from tourbook.extensions import db
    from tourbook.models import City, Company, User
    from tourbook.services import PartnerDetails, book_tour, decline_tour

    day = date.today() + timedelta(weeks=4)
    day += timedelta(days=(1 - day.weekday()) % 7)
    berlin = ZoneInfo("Europe/Berlin")
    with server.app.test_request_context(base_url=server.url):
        hr = db.session.execute(select(User).where(User.email == "hr@demo.example")).scalar_one()
        siegen = db.session.execute(select(City).where(City.slug == "siegen")).scalar_one()
        tour = book_tour(db.session, hr, siegen, db.session.get(Company, hr.company_id),
                         datetime.combine(day, time(13, 30), berlin), datetime.combine(day, time(15), berlin),
                         PartnerDetails(first_name="Ruth", language="en", meeting_place="company",
                                        meeting_point=db.session.get(Company, hr.company_id).address))
        decline_tour(db.session, db.session.get(User, tour.guide_id), tour, "Doctor's appointment")
        tour_id = tour.id
        db.session.remove()
    return tour_id


def lacking_language_tour(server: Any) -> tuple[int, str]:  # noqa: ANN401
    """The id and partner link of the demo's coming tour whose guide does not speak the partner's language."""
    from sqlalchemy import select

    from tourbook.extensions import db
    from tourbook.models import Tour, utcnow

    with server.app.app_context():
        tours = db.session.execute(select(Tour).where(Tour.status == "confirmed", Tour.starts_at > utcnow())).scalars()
        tour = next(t for t in tours if t.guide_lacks_language)
        found = tour.id, tour.token
        db.session.remove()
    return found


def take_partner_lacking_language(base_url: str, browser: Any, out: Path, token: str) -> list[Path]:  # noqa: ANN401
    """The partner's page when the guide does not speak the partner's language."""
    taken = []
    for device, options in VIEWPORTS.items():
        for lang, locale in LOCALES.items():
            context = browser.new_context(base_url=base_url, locale=locale, **options)
            page = context.new_page()
            page.goto(f"/t/{token}/?lang={lang}")
            taken.append(shoot(page, out, f"partner-guide-lacks-language-{device}-{lang}"))
            context.close()
    return taken


def signed_in_pages(browser: Any, base_url: str, email: str) -> Iterator[tuple[str, str, Any]]:  # noqa: ANN401
    """A page signed in as ``email`` on each device in each language (closed when the next is asked for)."""
    for device, options in VIEWPORTS.items():
        for lang, locale in LOCALES.items():
            context = browser.new_context(base_url=base_url, locale=locale, **options)
            page = context.new_page()
            login(page, email)
            yield device, lang, page
            context.close()


def take_coordinators_tour(base_url: str, browser: Any, out: Path, tour_id: int, name: str) -> list[Path]:  # noqa: ANN401
    """The coordinator's page of a tour (one that needs a guide: who declined, the guides to choose from; one
    whose guide does not speak the partner's language: keep them?)."""
    taken = []
    for device, lang, page in signed_in_pages(browser, base_url, "coordinator@demo.example"):
        page.goto(f"/tours/{tour_id}?lang={lang}")
        taken.append(shoot(page, out, f"{name}-{device}-{lang}"))
    return taken


def take_tour_lists(base_url: str, browser: Any, out: Path) -> list[Path]:  # noqa: ANN401
    """The tour lists of HR, guide and coordinator (search and filters above the list), a guide's tour page."""
    taken = []
    for who, email in (("hr", "hr@demo.example"), ("guide", "guide@demo.example"),
                       ("coordinator", "coordinator@demo.example")):
        for device, lang, page in signed_in_pages(browser, base_url, email):
            page.goto(f"/tours/?lang={lang}")
            taken.append(shoot(page, out, f"tours-{who}-{device}-{lang}"))
            if who == "guide":
                first = page.locator("main table a[href^='/tours/']").first
                if first.count():
                    first.click()
                    page.wait_for_load_state("load")
                    taken.append(shoot(page, out, f"tour-guide-{device}-{lang}"))
    return taken


def _next_monday() -> str:
    from datetime import date, timedelta

    today = date.today()
    return (today + timedelta(days=7 - today.weekday() + 7)).isoformat()


def take_booking_flow(base_url: str, browser: Any, out: Path) -> list[Path]:  # noqa: ANN401
    """HR books a tour (with the live availability), the tour page, the partner's page; hours; reports."""
    taken = []
    for device, options in VIEWPORTS.items():
        for lang, locale in LOCALES.items():
            context = browser.new_context(base_url=base_url, locale=locale, **options)
            page = context.new_page()
            login(page, "hr@demo.example")
            page.goto(f"/tours/new?lang={lang}")
            page.fill("input[name=day]", _next_monday())
            page.fill("input[name=start]", "18:00")
            page.fill("input[name=end]", "19:30")
            page.dispatch_event("input[name=end]", "change")
            page.wait_for_selector("#availability .alternatives", timeout=10_000)
            taken.append(shoot(page, out, f"booking-alternatives-{device}-{lang}"))
            page.locator("#availability .alternatives button").first.click()
            # A guide is free then (one who speaks the language, or another one: either may be the nearest).
            page.wait_for_selector("#availability :is(.availability__ok, .availability__partly)", timeout=10_000)
            page.fill("input[name=first_name]", "Maria")
            page.fill("input[name=email]", "maria@example.org")
            page.check("input[name=interests][value=schools]")
            page.check("input[name=consent]")
            page.locator("form.tour-form button[type=submit]").last.click()
            page.wait_for_url(lambda url: "/tours/" in url and "booked=1" in url, timeout=10_000)
            taken.append(shoot(page, out, f"tour-booked-{device}-{lang}"))
            partner_link = page.input_value("#partner-link")
            context.close()

            partner = browser.new_context(base_url=base_url, locale=locale, **options).new_page()
            partner.goto(partner_link + f"?lang={lang}")
            taken.append(shoot(partner, out, f"partner-page-{device}-{lang}"))
            partner.context.close()

            context = browser.new_context(base_url=base_url, locale=locale, **options)
            page = context.new_page()
            login(page, "guide@demo.example")
            page.goto(f"/tours/?lang={lang}")
            page.locator("nav.site-nav a").nth(1).click()
            page.wait_for_load_state("load")
            taken.append(shoot(page, out, f"guide-hours-{device}-{lang}"))
            context.close()

            context = browser.new_context(base_url=base_url, locale=locale, **options)
            page = context.new_page()
            login(page, "coordinator@demo.example")
            page.goto(f"/c/siegen/?lang={lang}")
            taken.append(shoot(page, out, f"coordinator-dashboard-{device}-{lang}"))
            page.goto("/reports/")
            taken.append(shoot(page, out, f"reports-{device}-{lang}"))
            page.goto("/audit/")
            taken.append(shoot(page, out, f"audit-{device}-{lang}"))
            context.close()
    return taken


def main() -> int:
    missing = missing_browser_parts()
    if missing:
        print("cannot take screenshots, missing: " + "; ".join(missing), file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    out = screenshot_dir()
    with tempfile.TemporaryDirectory(prefix="tourbook-screenshots-") as tmp:
        server = start_live_server(Path(tmp))
        try:
            with sync_playwright() as playwright:
                browser = launch_browser(playwright)
                taken = take_all(server.url, browser, out)
                taken += take_coordinators_tour(server.url, browser, out, declined_english_tour(server),
                                                "tour-needs-guide")
                tour_id, token = lacking_language_tour(server)
                taken += take_partner_lacking_language(server.url, browser, out, token)
                taken += take_coordinators_tour(server.url, browser, out, tour_id, "tour-keep-guide")
                browser.close()
        finally:
            server.stop()
    for path in taken:
        print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
