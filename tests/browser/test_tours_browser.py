"""Issue 4 in a real browser: the whole way of a tour, from the HR user's form to the guide and the partner's
page, in German and in English, with axe-core after every htmx swap; and once with JavaScript off.

The demo region decides who is free. On a Wednesday 10:00–11:30 Gisela (guide: German, English) and Paul
(guide4: German, French) have hours: a German tour goes to one of them by the rule, and when that one declines,
the other takes it over (not Emily, guide3, English only, who has Wednesday afternoons). On a Tuesday 13:30–15:00
only Hakan (guide2: German, Turkish, English) has hours: when he declines the English tour, nobody is free, it
needs a guide, and the coordinator, who cannot give it to Emily, gives it back to Hakan after a call. Each test
books on a day of its own, weeks ahead of the demo's tours and past Paul's demo absence."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import holidays
import pytest
from playwright.sync_api import expect
from sqlalchemy import select as sa_select

from .conftest import DEMO_PASSWORD, LiveServer, PageWatch, assert_no_axe_violations, login, path_of, submit_by_htmx

pytestmark = pytest.mark.browser

HR = "hr@demo.example"
COORDINATOR = "coordinator@demo.example"
GUIDES = {"Gisela": "guide@demo.example", "Hakan": "guide2@demo.example", "Emily": "guide3@demo.example",
          "Paul": "guide4@demo.example"}
COMPANY_ADDRESS = "Hüttenstraße 12, 57072 Siegen"
OFFICE_PHONE = "+49 271 404-0"
LOCALES = {"de": "de-DE", "en": "en-GB"}
REASONS = {"de": "Arzttermin", "en": "Doctor's appointment"}
SLOTS = {"de": ("10:00", "11:30"), "en": ("13:30", "15:00")}

TEXT = {
    "de": {
        "booked": "Gebucht. Bitte geben Sie diesen Link an {name} weiter.",
        "free": "Zu dieser Zeit ist ein Guide frei.",
        "nobody": "Zu dieser Zeit ist kein Guide frei.",
        "one_found": "1 Tour gefunden",
        "no_first_name": "Bitte geben Sie den Vornamen der Partnerin oder des Partners ein.",
        "no_consent": "Bitte bestätigen Sie die Einwilligung der Partnerin oder des Partners.",
        "partner_title": "Ihre Tour durch Siegen",
        "bring": "Was Sie mitbringen sollten",
        "saved": "Vielen Dank, wir haben das an Ihren Guide weitergegeben.",
        "language": "Deutsch",
        "nature": "Natur",
        "no_reason": "Bitte geben Sie einen Grund an.",
        "declined_nobody": "Sie haben die Tour abgegeben. Die Koordination sucht einen anderen Guide.",
        "declined_other": "Sie haben die Tour abgegeben. Ein anderer Guide übernimmt sie.",
        "needs_guide": "Guide gesucht",
        "announced_soon": "wird bald bekannt gegeben",
        "assigned": "Die Tour ist zugewiesen.",
        "cancelled": "Die Tour ist abgesagt.",
        "cancelled_badge": "abgesagt",
        "partner_cancelled": "ist abgesagt.",
        "no_tours": "Keine Touren gefunden.",
    },
    "en": {
        "booked": "Booked. Please pass this link on to {name}.",
        "free": "A guide is free at this time.",
        "nobody": "No guide is free at this time.",
        "one_found": "1 tour found",
        "no_first_name": "Please enter the partner's first name.",
        "no_consent": "Please confirm the partner's consent.",
        "partner_title": "Your tour of Siegen",
        "bring": "What to bring",
        "saved": "Thank you, we passed this on to your guide.",
        "language": "English",
        "nature": "Nature",
        "no_reason": "Please give a reason.",
        "declined_nobody": "You declined the tour. The coordinator is looking for another guide.",
        "declined_other": "You declined the tour. Another guide takes it.",
        "needs_guide": "needs a guide",
        "announced_soon": "will be announced soon",
        "assigned": "The tour is assigned.",
        "cancelled": "The tour is cancelled.",
        "cancelled_badge": "cancelled",
        "partner_cancelled": "is cancelled.",
        "no_tours": "No tours found.",
    },
}


MONDAY, TUESDAY, WEDNESDAY, FRIDAY = 0, 1, 2, 4


def a_day(weeks_ahead: int, weekday: int = TUESDAY) -> date:
    """A ``weekday`` at least ``weeks_ahead`` weeks from today that is no public holiday in North
    Rhine-Westphalia."""
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()
    day = today + timedelta(weeks=weeks_ahead)
    day += timedelta(days=(weekday - day.weekday()) % 7)
    closed = holidays.country_holidays("DE", subdiv="NW", years=range(day.year, day.year + 2))
    while day in closed:
        day += timedelta(weeks=1)
    return day


def main_text(page: Any) -> str:  # noqa: ANN401
    return " ".join(page.locator("main").inner_text().split())


def sign_in(new_page: Any, email: str, lang: str, **options: Any) -> Any:  # noqa: ANN401
    """A new browser of someone who chose ``lang`` on the sign-in page (it wins over the account's setting)."""
    page = new_page(locale=LOCALES[lang], **options)
    page.goto(f"/login?lang={lang}")
    login(page, email)
    assert page.locator("html").get_attribute("lang") == lang
    return page


def fill_when(page: Any, day: date, start: str, end: str) -> None:  # noqa: ANN401
    """Date and times as a person types them; the last change asks whether a guide is free."""
    page.fill("input[name=day]", day.isoformat())
    page.fill("input[name=start]", start)
    page.fill("input[name=end]", end)
    asked = {"day": [day.isoformat()], "start": [start], "end": [end]}

    def answers(response: Any) -> bool:  # noqa: ANN401
        query = parse_qs(urlsplit(response.url).query)
        return "/tours/availability" in response.url and all(query.get(k) == v for k, v in asked.items())

    with page.expect_response(answers):
        page.dispatch_event("input[name=end]", "change")


def keep_node(page: Any, selector: str) -> None:  # noqa: ANN401
    """Remember the element now at ``selector`` (see same_node)."""
    page.evaluate("s => { window.__kept = window.__kept || {}; window.__kept[s] = document.querySelector(s); }",
                  selector)


def same_node(page: Any, selector: str) -> bool:  # noqa: ANN401
    """The element at ``selector`` is still the one kept: a live region that stays in the page is announced
    when its content changes; one replaced by a new element may not be."""
    return page.evaluate("s => window.__kept[s] === document.querySelector(s)", selector)


def guide_named_on(page: Any) -> str:  # noqa: ANN401
    """The first name of the guide a tour page names."""
    text = main_text(page)
    named = [name for name in GUIDES if name in text]
    assert len(named) == 1, f"expected one guide on the page, found {named}: {text[:400]}"
    return named[0]


def download_ics(page: Any, href: str) -> str:  # noqa: ANN401
    response = page.request.get(href)
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/calendar")
    body = response.text()
    assert "BEGIN:VEVENT" in body and "DTSTART" in body
    return body


def book(page: Any, lang: str, day: date, first_name: str) -> str:  # noqa: ANN401
    """HR books on ``day`` in the slot of ``lang`` through the live form; returns the partner's link."""
    text = TEXT[lang]
    partner_language = lang
    start, end = SLOTS[lang]
    page.locator("a.kern-btn[href='/tours/new']").click()
    page.wait_for_url("**/tours/new")
    assert_no_axe_violations(page, f"the empty booking form ({lang})")
    form = page.locator("form.tour-form")
    availability = page.locator("#availability")

    # In the evening nobody has hours: the form says so at once and offers the nearest times that work.
    page.select_option("select[name=language]", partner_language)
    keep_node(page, "#availability")
    fill_when(page, day, "18:00", "19:30")
    expect(availability.locator(".alternatives button").first).to_be_visible()
    expect(availability).to_contain_text(text["nobody"])
    assert same_node(page, "#availability")  # the answer came into the live region
    assert_no_axe_violations(page, f"no guide free, alternatives offered ({lang})")

    # One click takes an alternative over: its date and times fill the form, and a guide is free then.
    alternative = availability.locator(".alternatives button").first
    taken_day, taken_start, taken_end = alternative.get_attribute("value").split("|")
    submit_by_htmx(page, alternative, 200)
    assert (page.input_value("input[name=day]"), page.input_value("input[name=start]"),
            page.input_value("input[name=end]")) == (taken_day, taken_start, taken_end)
    expect(availability).to_contain_text(text["free"])
    assert page.input_value("select[name=language]") == partner_language
    # The answer for the new time has the focus (the whole form was swapped, the button is gone).
    assert page.evaluate("() => document.activeElement && document.activeElement.id") == "availability"
    assert_no_axe_violations(page, f"an alternative taken over ({lang})")

    # The interview is in the morning after all.
    keep_node(page, "#availability")
    fill_when(page, day, start, end)
    expect(availability).to_contain_text(text["free"])
    assert same_node(page, "#availability")
    # The focus stays in the field typed in: only a taken-over time moved it to the answer, once.
    assert page.evaluate("() => document.activeElement && document.activeElement.name") == "end"

    # Sent without a first name and without consent: both are named, everything typed stays.
    page.fill("input[name=last_name]", "Lindqvist")
    page.fill("input[name=email]", f"{first_name.lower()}@example.org")
    page.check("input[name=interests][value=culture]")
    submit_by_htmx(page, form.locator(".form-actions button[type=submit]"), 422)
    errors = page.locator("main [role=alert]").first
    expect(errors).to_contain_text(text["no_first_name"])
    expect(errors).to_contain_text(text["no_consent"])
    assert page.locator("input[name=first_name][aria-invalid=true]").count() == 1
    assert (page.input_value("input[name=day]"), page.input_value("input[name=start]"),
            page.input_value("input[name=end]"), page.input_value("select[name=language]"),
            page.input_value("input[name=email]")) == (day.isoformat(), start, end, partner_language,
                                                       f"{first_name.lower()}@example.org")
    assert page.locator("input[name=interests][value=culture]").is_checked()
    assert page.evaluate("() => !!document.activeElement?.matches('[data-focus-on-swap]')"), (
        "the error summary did not get the focus")
    assert_no_axe_violations(page, f"the booking form with errors ({lang})")

    page.fill("input[name=first_name]", first_name)
    page.check("input[name=consent]")
    with page.expect_navigation():
        page.locator("form.tour-form .form-actions button[type=submit]").click()
    assert path_of(page).startswith("/tours/") and "booked=1" in page.url
    assert page.locator("#booked-heading").inner_text() == text["booked"].format(name=first_name)
    link = page.input_value("#partner-link")
    assert link.startswith(page.url.split("/tours/")[0] + "/t/")
    assert page.locator("button[data-copy=partner-link]").is_visible(), "no copy button beside the link"
    assert f"{start}–{end}" in main_text(page)
    download_ics(page, page.locator("main a[href$='/tour.ics']").get_attribute("href"))
    assert_no_axe_violations(page, f"booked, with the partner's link ({lang})")
    return link


def open_partner_page(new_page: Any, link: str, lang: str) -> Any:  # noqa: ANN401
    """The partner's phone: no account, the link from HR."""
    partner = new_page(locale=LOCALES[lang], viewport={"width": 390, "height": 844}, is_mobile=True,
                       has_touch=True)
    partner.goto(link)
    return partner


def check_partner_page(partner: Any, lang: str, guide: str | None) -> None:  # noqa: ANN401
    text = TEXT[lang]
    assert partner.locator("html").get_attribute("lang") == lang
    assert partner.locator("h1").inner_text() == text["partner_title"]
    page_text = main_text(partner)
    assert "{}–{}".format(*SLOTS[lang]) in page_text and COMPANY_ADDRESS in page_text
    assert (guide or text["announced_soon"]) in page_text
    assert partner.locator(f"main a[href='tel:{OFFICE_PHONE.replace(' ', '')}']").inner_text() == OFFICE_PHONE
    assert partner.locator("meta[name=robots]").get_attribute("content") == "noindex, nofollow"
    # Nothing wider than the phone: the page does not scroll sideways.
    assert partner.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def partner_updates_wishes(partner: Any, lang: str, link: str) -> None:  # noqa: ANN401
    text = TEXT[lang]
    expect(partner.get_by_role("heading", name=text["bring"])).to_be_visible()
    download_ics(partner, partner.locator("main a[href$='/tour.ics']").get_attribute("href"))
    assert_no_axe_violations(partner, f"the partner's page ({lang})")

    # The other language and back: the switch keeps the partner on their page.
    other = "en" if lang == "de" else "de"
    partner.locator(".lang-switch a").click()
    partner.wait_for_load_state("load")
    assert partner.locator("html").get_attribute("lang") == other
    assert partner.locator("h1").inner_text() == TEXT[other]["partner_title"]
    assert_no_axe_violations(partner, f"the partner's page switched to {other}")
    partner.locator(".lang-switch a").click()
    partner.wait_for_load_state("load")
    assert partner.locator("html").get_attribute("lang") == lang

    partner.check("#wishes input[name=interests][value=nature]")
    partner.fill("#wishes input[name=people]", "3")
    submit_by_htmx(partner, partner.locator("#wishes button[type=submit]"), 200)
    expect(partner.locator("main")).to_contain_text(text["saved"])
    focused = partner.evaluate("() => document.activeElement?.closest('#wishes .kern-alert')?.textContent ?? ''")
    assert text["saved"] in focused, "the thanks did not get the focus after the swap"
    assert_no_axe_violations(partner, f"the partner's wishes saved ({lang})")
    partner.goto(link)
    assert partner.locator("#wishes input[name=interests][value=nature]").is_checked()
    assert partner.input_value("#wishes input[name=people]") == "3"


def guide_finds_and_declines(guide: Any, lang: str, first_name: str) -> None:  # noqa: ANN401
    text = TEXT[lang]
    assert path_of(guide) == "/tours/"
    keep_node(guide, "#tour-count")
    with guide.expect_response(lambda r: "/tours/?" in r.url and "q=" in r.url and r.status == 200):
        guide.fill("#q", first_name)
    rows = guide.locator("#tour-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(first_name)
    expect(guide.locator("#tour-count")).to_have_text(text["one_found"])  # the announced count follows the search
    assert same_node(guide, "#tour-count")  # in the live region that stayed
    assert "q=" + first_name in guide.url, "the search is not kept in the address"
    assert_no_axe_violations(guide, f"the guide's tours searched ({lang})")

    with guide.expect_navigation():
        rows.first.locator("a").click()
    assert re.fullmatch(r"/tours/\d+", path_of(guide))
    page_text = main_text(guide)
    for seen in (first_name, text["language"], text["nature"], COMPANY_ADDRESS, "{}–{}".format(*SLOTS[lang])):
        assert seen in page_text, f"the guide does not see {seen!r}"
    assert "Lindqvist" not in page_text and "@example.org" not in page_text, (
        "a guide sees only the partner's first name")
    assert_no_axe_violations(guide, f"the guide's tour page ({lang})")

    guide.locator("main a[href$='/decline']").click()
    guide.wait_for_url("**/decline")
    submit_by_htmx(guide, guide.locator("main form button[type=submit]"), 422)
    expect(guide.locator("main")).to_contain_text(text["no_reason"])
    assert_no_axe_violations(guide, f"declining without a reason ({lang})")
    guide.fill("textarea[name=reason]", REASONS[lang])
    with guide.expect_navigation():
        guide.locator("main form button[type=submit]").click()
    assert path_of(guide) == "/tours/"
    expect(guide.locator("main")).to_contain_text(text["declined_other" if lang == "de" else "declined_nobody"])
    with guide.expect_response(lambda r: "/tours/?" in r.url and "q=" in r.url and r.status == 200):
        guide.fill("#q", first_name)
    expect(guide.locator("#tour-list")).to_contain_text(text["no_tours"])


@pytest.mark.parametrize("lang", ["de", "en"])
def test_a_tour_from_the_booking_form_to_the_guide_and_the_partner(new_page: Any, live_server: LiveServer,
                                                                    lang: str) -> None:  # noqa: ANN401
    text = TEXT[lang]
    day = a_day(4, weekday=WEDNESDAY) if lang == "de" else a_day(5)
    first_name = f"Maren{uuid.uuid4().hex[:6]}"

    hr = sign_in(new_page, HR, lang)
    link = book(hr, lang, day, first_name)
    tour_url = hr.url.split("?")[0]
    first = guide_named_on(hr)
    assert first in ({"Gisela", "Paul"} if lang == "de" else {"Hakan"})

    partner = open_partner_page(new_page, link, lang)
    check_partner_page(partner, lang, first)
    partner_updates_wishes(partner, lang, link)

    guide = sign_in(new_page, GUIDES[first], lang)
    guide_finds_and_declines(guide, lang, first_name)

    hr.goto(tour_url)
    partner.reload()
    if lang == "de":
        # The other guide who speaks German was free too and took the tour over; HR and the partner see the name.
        other = ({"Gisela", "Paul"} - {first}).pop()
        assert guide_named_on(hr) == other
        check_partner_page(partner, lang, other)

        # The partner cannot come after all: a confirmation first, then the page says it is cancelled.
        partner.locator("main a[href$='/cancel']").click()
        partner.wait_for_url("**/cancel")
        assert_no_axe_violations(partner, "the partner's cancel confirmation")
        partner.fill("textarea[name=reason]", "Wir haben eine Wohnung woanders gefunden.")
        with partner.expect_navigation():
            partner.locator("main form button[type=submit]").click()
        expect(partner.locator("main")).to_contain_text(text["partner_cancelled"])
        assert_no_axe_violations(partner, "the partner's cancelled page")
        hr.reload()
        expect(hr.locator("main .kern-badge").first).to_have_text(text["cancelled_badge"])
        return

    # Nobody else is free then: the tour needs a guide; HR and the partner see so.
    expect(hr.locator("main .kern-badge").first).to_have_text(text["needs_guide"])
    check_partner_page(partner, lang, None)
    hr.goto("/tours/")
    expect(hr.locator("#needs-guide-heading")).to_be_visible()
    assert hr.locator(f"main .kern-alert a[href='{urlsplit(tour_url).path}']").count() == 1
    assert_no_axe_violations(hr, "HR's tours with one that needs a guide")

    # The coordinator sees who declined and why; Emily has no hours then, Hakan can after all.
    coordinator = sign_in(new_page, COORDINATOR, lang)
    coordinator.goto(urlsplit(tour_url).path)
    expect(coordinator.locator("main")).to_contain_text(REASONS[lang])
    assign = coordinator.locator("main form[action$='/assign']")
    options = dict(assign.locator("select[name=assign-guide] option").evaluate_all(
        "options => options.map(o => [o.textContent, o.value])"))
    assert "Emily Carter – not free at this time" in options and "Hakan Yılmaz – declined this tour" in options
    coordinator.select_option("select[name=assign-guide]", options["Emily Carter – not free at this time"])
    coordinator.fill("textarea[name=assign-reason]", "Asked on the phone.")
    submit_by_htmx(coordinator, assign.locator("button[type=submit]"), 422)
    expect(coordinator.locator("main form[action$='/assign']")).to_contain_text("This guide is not free at that time.")
    assert_no_axe_violations(coordinator, "assigning a guide who is not free")
    coordinator.select_option("select[name=assign-guide]", options["Hakan Yılmaz – declined this tour"])
    coordinator.fill("textarea[name=assign-reason]", "The doctor's appointment moved; Hakan can do it.")
    with coordinator.expect_navigation():
        coordinator.locator("main form[action$='/assign'] button[type=submit]").click()
    expect(coordinator.locator("main")).to_contain_text(text["assigned"])
    assert "Hakan Yılmaz" in main_text(coordinator)
    assert_no_axe_violations(coordinator, "the coordinator's tour page after assigning")
    partner.reload()
    check_partner_page(partner, lang, "Hakan")

    # HR cancels: a reason is asked for, then the tour is cancelled for everyone.
    hr.goto(tour_url)
    hr.locator("main a[href$='/cancel']").click()
    hr.wait_for_url("**/cancel")
    submit_by_htmx(hr, hr.locator("main form button[type=submit]"), 422)
    expect(hr.locator("main")).to_contain_text(text["no_reason"])
    assert_no_axe_violations(hr, "cancelling without a reason")
    hr.fill("textarea[name=reason]", "The interview was called off.")
    with hr.expect_navigation():
        hr.locator("main form button[type=submit]").click()
    expect(hr.locator("main")).to_contain_text(text["cancelled"])
    expect(hr.locator("main .kern-badge").first).to_have_text(text["cancelled_badge"])
    partner.reload()
    expect(partner.locator("main")).to_contain_text(text["partner_cancelled"])


def test_when_the_free_guide_does_not_speak_the_language_times_with_one_who_does_are_offered(
    new_page: Any, live_server: LiveServer  # noqa: ANN401
) -> None:
    """On a Friday at 08:00 only Paul (German, French) has hours; Emily and Gisela, who speak English, start later."""
    friday = a_day(5, weekday=FRIDAY)  # past Paul's demo absence (three to four weeks ahead)
    hr = sign_in(new_page, HR, "en")
    hr.goto("/tours/new")
    hr.select_option("select[name=language]", "en")
    fill_when(hr, friday, "08:00", "09:30")
    availability = hr.locator("#availability")
    expect(availability).to_contain_text("A guide is free, but none who speaks English. "
                                         "The free guides speak: German, French.")
    expect(availability).to_contain_text("Nearest times with a guide who speaks English")
    assert_no_axe_violations(hr, "a free guide who does not speak the language, with alternatives")
    submit_by_htmx(hr, availability.locator(".alternatives button").first, 200)
    expect(hr.locator("#availability")).to_contain_text("A guide is free at this time.")


def test_a_late_answer_to_an_older_question_does_not_overwrite_the_newer_one(
    new_page: Any, live_server: LiveServer  # noqa: ANN401
) -> None:
    """The first availability answer is held back while the times change again: the form must end up with
    the answer to the newer times (the questions go one after the other), not with the late older one. And
    the questions send only what they ask about."""
    day = a_day(6)
    hr = sign_in(new_page, HR, "en")
    hr.goto("/tours/new")
    hr.select_option("select[name=language]", "de")
    hr.fill("input[name=day]", day.isoformat())
    hr.fill("input[name=first_name]", "Maren")
    hr.fill("input[name=email]", "maren@example.org")
    held: list[Any] = []
    asked: list[str] = []

    def hold_the_first(route: Any) -> None:  # noqa: ANN401
        asked.append(route.request.url)
        if not held:
            held.append(route)
        else:
            route.continue_()

    hr.route("**/tours/availability?*", hold_the_first)
    hr.fill("input[name=start]", "18:00")
    hr.fill("input[name=end]", "19:30")
    hr.dispatch_event("input[name=end]", "change")  # nobody is free in the evening
    hr.wait_for_timeout(300)
    hr.fill("input[name=start]", "10:00")
    hr.fill("input[name=end]", "11:30")
    hr.dispatch_event("input[name=end]", "change")  # Hakan is free in the morning
    hr.wait_for_timeout(500)
    assert len(held) == 1, "the first question was not asked"
    assert len(asked) == 1, "a newer question was sent while the older one was still unanswered"
    # The question carries the times and the language, not the partner's details (a GET ends up in logs).
    sent = parse_qs(urlsplit(asked[0]).query, keep_blank_values=True)
    assert set(sent) == {"city", "day", "start", "end", "language"}
    with hr.expect_response(lambda r: "/tours/availability" in r.url and "start=10%3A00" in r.url):
        held[0].continue_()
    expect(hr.locator("#availability")).to_contain_text("A guide is free at this time.")
    hr.wait_for_timeout(300)
    expect(hr.locator("#availability")).to_contain_text("A guide is free at this time.")


def test_the_absence_preview_names_the_tour_it_would_hit(new_page: Any, live_server: LiveServer) -> None:  # noqa: ANN401
    """Gisela alone has Monday mornings: a tour booked then is what an absence over that Monday would hit;
    the preview asks with the dates and times only."""
    from tourbook.extensions import db
    from tourbook.models import City, Company, User
    from tourbook.services import PartnerDetails, book_tour

    monday = a_day(7, weekday=MONDAY)
    berlin = ZoneInfo("Europe/Berlin")
    with live_server.app.test_request_context(base_url=live_server.url):  # the mails' links need a host
        hr_user = db.session.execute(sa_select(User).where(User.email == HR)).scalar_one()
        siegen = db.session.execute(sa_select(City).where(City.slug == "siegen")).scalar_one()
        tour = book_tour(db.session, hr_user, siegen, db.session.get(Company, hr_user.company_id),
                         datetime.combine(monday, time(9), berlin), datetime.combine(monday, time(10, 30), berlin),
                         PartnerDetails(first_name="Ida"))
        assert db.session.get(User, tour.guide_id).email == GUIDES["Gisela"]
        db.session.commit()
        db.session.remove()

    guide = sign_in(new_page, GUIDES["Gisela"], "en")
    guide.locator("nav.site-nav a[href$='/hours']").click()
    guide.wait_for_load_state("load")
    asked: list[str] = []
    guide.on("request", lambda request: asked.append(request.url) if "/absences/check" in request.url else None)
    guide.fill("#absence-first_day", monday.isoformat())
    with guide.expect_response(lambda r: "/absences/check" in r.url and "last_day=" + monday.isoformat() in r.url):
        guide.fill("#absence-last_day", monday.isoformat())
        guide.dispatch_event("#absence-last_day", "change")
    preview = guide.locator("#absence-preview")
    expect(preview).to_contain_text("This absence hits 1 tour:")
    expect(preview).to_contain_text("09:00")
    assert_no_axe_violations(guide, "the absence preview")
    # The times ask again too: 11:00 to 12:00 misses the tour, from 08:00 it hits it again.
    for field, value in (("start_time", "11:00"), ("end_time", "12:00")):
        with guide.expect_response(lambda r, f=field, v=value: "/absences/check" in r.url
                                   and f"{f}={v.replace(':', '%3A')}" in r.url):
            guide.fill(f"#absence-{field}", value)
            guide.dispatch_event(f"#absence-{field}", "change")
    expect(preview).not_to_contain_text("This absence hits")
    with guide.expect_response(lambda r: "/absences/check" in r.url and "start_time=08%3A00" in r.url):
        guide.fill("#absence-start_time", "08:00")
        guide.dispatch_event("#absence-start_time", "change")
    expect(preview).to_contain_text("This absence hits 1 tour:")
    for url in asked:
        assert set(parse_qs(urlsplit(url).query, keep_blank_values=True)) <= {
            "absence-first_day", "absence-last_day", "absence-start_time", "absence-end_time"}, url


@pytest.mark.parametrize("email", [HR, COORDINATOR, "guide@demo.example"])
def test_the_tour_list_fits_a_phone(new_page: Any, live_server: LiveServer, email: str) -> None:  # noqa: ANN401
    """Each tour a block on a narrow screen: its status and its link in sight, nothing to scroll sideways."""
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    login(page, email)
    page.goto("/tours/")
    rows = page.locator("#tour-list tbody tr")
    assert rows.count() >= 1
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"
    for row in rows.all()[:5]:
        for part in (row.locator(".kern-badge"), row.locator("a").first):
            box = part.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, f"{part} is off the screen: {box}"
    assert_no_axe_violations(page, f"the tour list of {email} on a phone")


def test_booking_and_the_partner_page_work_without_javascript(new_page: Any, live_server: LiveServer) -> None:  # noqa: ANN401
    """Plain form posts all the way: the alternatives come with the refused post, a click takes one over
    (everything typed stays), the booking redirects to the tour page; the partner saves wishes and cancels."""
    text = TEXT["de"]
    day = a_day(6)
    first_name = f"Jana{uuid.uuid4().hex[:6]}"
    hr = sign_in(new_page, HR, "de", java_script_enabled=False)
    hr.goto("/tours/new")
    hr.select_option("select[name=language]", "de")
    hr.fill("input[name=day]", day.isoformat())
    hr.fill("input[name=start]", "18:00")
    hr.fill("input[name=end]", "19:30")
    hr.fill("input[name=first_name]", first_name)
    hr.fill("input[name=phone]", "+49 170 1234567")
    hr.check("input[name=interests][value=schools]")
    hr.check("input[name=consent]")
    with hr.expect_navigation():
        hr.locator("form.tour-form .form-actions button[type=submit]").click()
    expect(hr.locator("#availability")).to_contain_text(text["nobody"])
    alternative = hr.locator("#availability .alternatives button").first
    taken_day, taken_start, taken_end = alternative.get_attribute("value").split("|")
    with hr.expect_navigation():
        alternative.click()
    assert (hr.input_value("input[name=day]"), hr.input_value("input[name=start]"),
            hr.input_value("input[name=end]")) == (taken_day, taken_start, taken_end)
    assert hr.input_value("input[name=first_name]") == first_name
    assert hr.input_value("input[name=phone]") == "+49 170 1234567"
    assert hr.locator("input[name=interests][value=schools]").is_checked()
    assert hr.locator("input[name=consent]").is_checked()

    hr.locator("form.tour-form .form-actions button[type=submit]").click()
    hr.wait_for_url(lambda url: "booked=1" in url)
    assert hr.locator("#booked-heading").inner_text() == text["booked"].format(name=first_name)
    link = hr.input_value("#partner-link")
    assert f"{taken_start}–{taken_end}" in main_text(hr)
    expect(hr.locator("button[data-copy]")).to_be_hidden()  # copying needs the script: no button that does nothing

    partner = new_page(locale="de-DE", java_script_enabled=False)
    partner.goto(link)
    assert partner.locator("h1").inner_text() == text["partner_title"]
    partner.check("#wishes input[name=interests][value=nature]")
    partner.locator("#wishes button[type=submit]").click()
    expect(partner.locator("main")).to_contain_text(text["saved"])
    assert partner.locator("#wishes input[name=interests][value=nature]").is_checked()
    partner.locator("main a[href$='/cancel']").click()
    partner.wait_for_url("**/cancel")
    partner.locator("main form button[type=submit]").click()
    partner.wait_for_url(lambda url: not urlsplit(url).path.endswith("/cancel"))
    expect(partner.locator("main")).to_contain_text(text["partner_cancelled"])

    hr.reload()
    expect(hr.locator("main .kern-badge").first).to_have_text(text["cancelled_badge"])


def test_the_partner_sees_that_their_guide_does_not_speak_their_language_and_can_choose_another(
    new_page: Any, live_server: LiveServer  # noqa: ANN401
) -> None:
    """The demo's coming tour in English with Paul, who speaks German and French: the partner's page says so
    on a phone; choosing German (with htmx) brings the whole page again in German, without the warning."""
    from tourbook.extensions import db
    from tourbook.models import Tour, utcnow

    with live_server.app.app_context():
        tours = db.session.execute(sa_select(Tour).where(Tour.status == "confirmed", Tour.starts_at > utcnow()))
        token = next(t.token for t in tours.scalars() if t.guide_lacks_language)
        db.session.remove()
    partner = new_page(locale=LOCALES["en"], viewport={"width": 390, "height": 844}, is_mobile=True,
                       has_touch=True)
    partner.goto(f"/t/{token}/")
    warning = partner.locator("main .kern-alert--warning")
    expect(warning).to_contain_text("Paul speaks German and French, not English.")
    expect(warning).to_contain_text("No guide who speaks English is free at this time.")
    assert partner.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert_no_axe_violations(partner, "the partner's page with a guide who does not speak English")

    partner.select_option("#wishes select[name=language]", "de")
    with partner.expect_navigation():
        partner.locator("#wishes button[type=submit]").click()
    assert partner.locator("html").get_attribute("lang") == "de"
    expect(partner.locator("main")).to_contain_text(TEXT["de"]["saved"])
    assert partner.locator("main .kern-alert--warning").count() == 0
    assert_no_axe_violations(partner, "the partner's page after choosing German")


def test_the_coordinator_keeps_a_guide_who_does_not_speak_the_partners_language(
    new_page: Any, live_server: LiveServer  # noqa: ANN401
) -> None:
    """A coming tour whose guide does not speak the partner's language: the coordinator's start page lists it;
    on the tour's page the coordinator keeps the guide (say, after a call), and the list lets go of it."""
    from tourbook.extensions import db
    from tourbook.models import Tour, utcnow

    with live_server.app.app_context():
        tours = db.session.execute(sa_select(Tour).where(Tour.status == "confirmed", Tour.starts_at > utcnow()))
        tour = next(t for t in tours.scalars() if {"de", "en"} - set(t.guide.languages))
        tour_id, before = tour.id, (tour.partner_language, tour.language_accepted)
        tour.partner_language = sorted({"de", "en"} - set(tour.guide.languages))[0]
        tour.language_accepted = False
        guide = tour.guide.first_name
        db.session.commit()
        db.session.remove()
    try:
        coordinator = sign_in(new_page, COORDINATOR, "en")
        attention = coordinator.locator("main section", has_text="does not speak the partner's language")
        expect(attention.locator(f"a[href='/tours/{tour_id}']")).to_be_visible()
        attention.locator(f"a[href='/tours/{tour_id}']").click()
        keep = coordinator.locator("main form[action$='/keep-guide']")
        expect(keep).to_contain_text(f"Keep {guide}?")
        assert_no_axe_violations(coordinator, "the tour page with the form to keep the guide")
        with coordinator.expect_navigation():
            keep.locator("button[type=submit]").click()
        expect(coordinator.locator("main")).to_contain_text("keeps the tour.")
        expect(coordinator.locator("main")).to_contain_text("The city office keeps this guide knowingly.")
        assert keep.count() == 0
        assert_no_axe_violations(coordinator, "the tour page after keeping the guide")
        coordinator.goto("/")
        expect(coordinator.locator("main h1")).to_be_visible()
        assert attention.locator(f"a[href='/tours/{tour_id}']").count() == 0  # others may remain
    finally:
        with live_server.app.app_context():
            tour = db.session.get(Tour, tour_id)
            tour.partner_language, tour.language_accepted = before
            db.session.commit()
            db.session.remove()


def test_the_reschedule_form_answers_at_once_whether_a_guide_is_free_at_the_new_time(
    new_page: Any, live_server: LiveServer  # noqa: ANN401
) -> None:
    """HR changes the time of a coming tour: the answer beside the form follows the typed time (without
    saving); the focus stays in the field being typed in."""
    from tourbook.extensions import db
    from tourbook.models import Tour, User, utcnow

    with live_server.app.app_context():
        hr_id = db.session.execute(sa_select(User.id).where(User.email == HR)).scalar_one()
        tour = db.session.execute(sa_select(Tour).where(Tour.booked_by_id == hr_id, Tour.status == "confirmed",
                                                        Tour.starts_at > utcnow() + timedelta(days=3))
                                  .order_by(Tour.starts_at)).scalars().first()
        tour_id, sequence = tour.id, tour.sequence
        db.session.remove()
    text = TEXT["de"]
    hr = sign_in(new_page, HR, "de")
    hr.goto(f"/tours/{tour_id}/reschedule")
    availability = hr.locator("#availability")
    keep_node(hr, "#availability")
    hr.fill("input[name=start]", "21:00")
    with hr.expect_response(lambda r: r.url.endswith(f"/tours/{tour_id}/reschedule") and r.request.method == "POST"):
        hr.fill("input[name=end]", "22:30")
        hr.dispatch_event("input[name=end]", "change")
    expect(availability).to_contain_text(text["nobody"])
    assert same_node(hr, "#availability") and hr.locator("#availability").count() == 1  # announced in place
    assert hr.evaluate("() => document.activeElement.name") == "end"
    assert_no_axe_violations(hr, "the reschedule form answering for a new time")
    with live_server.app.app_context():
        assert db.session.get(Tour, tour_id).sequence == sequence  # nothing saved
        db.session.remove()


def test_the_coordinators_start_page_fits_a_phone(new_page: Any, live_server: LiveServer) -> None:  # noqa: ANN401
    """The next two weeks and the guides' load as blocks on a narrow screen: nothing to scroll sideways, every
    status in sight."""
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    login(page, COORDINATOR)
    page.goto("/c/siegen/")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways"
    for badge in page.locator("main .kern-badge").all()[:5]:
        box = badge.bounding_box()
        assert box and box["x"] + box["width"] <= 390, f"a status is off the screen: {box}"
    assert_no_axe_violations(page, "the coordinator's start page on a phone")


def test_switching_the_language_keeps_what_was_typed_in_the_booking_form(
    new_page: Any, live_server: LiveServer  # noqa: ANN401
) -> None:
    """HR has typed half a booking and switches to English: the page comes in English with everything typed
    (the availability asked again for the restored times); a reload afterwards starts empty."""
    day = a_day(5)
    hr = sign_in(new_page, HR, "de")
    hr.goto("/tours/new")
    fill_when(hr, day, "09:00", "10:30")
    hr.fill("input[name=first_name]", "Ilse")
    hr.check("input[name=interests][value=nature]")
    hr.select_option("select[name=meeting_point]", "station")
    asked_again = hr.expect_response(lambda r: "/tours/availability" in r.url and "start=09" in r.url)
    with asked_again, hr.expect_navigation():
        hr.locator(".lang-switch a").click()
    assert hr.locator("html").get_attribute("lang") == "en"
    assert (hr.input_value("input[name=day]"), hr.input_value("input[name=start]"),
            hr.input_value("input[name=end]")) == (day.isoformat(), "09:00", "10:30")
    assert hr.input_value("input[name=first_name]") == "Ilse"
    assert hr.locator("input[name=interests][value=nature]").is_checked()
    assert hr.input_value("select[name=meeting_point]") == "station"
    expect(hr.locator("#availability")).not_to_contain_text("Enter date and times")
    hr.reload()
    assert hr.input_value("input[name=first_name]") == ""


def test_a_booking_sent_after_the_sign_in_ended_is_kept_through_signing_in_again(
    new_page: Any, live_server: LiveServer  # noqa: ANN401
) -> None:
    """HR types a booking, leaves the page open past the idle timeout and sends it: the sign-in page comes (the
    whole page, from htmx's post) and keeps the form; after signing in, one button books what was typed."""
    from sqlalchemy import func, update

    from tourbook.extensions import db
    from tourbook.models import LoginSession, User, utcnow

    day = a_day(8, weekday=WEDNESDAY)
    first_name = f"Karla{uuid.uuid4().hex[:6]}"
    hr = sign_in(new_page, HR, "de")
    hr.goto("/tours/new")
    hr.select_option("select[name=language]", "de")
    fill_when(hr, day, "10:00", "11:30")
    hr.fill("input[name=first_name]", first_name)
    hr.fill("textarea[name=guide_note]", "Mag Fußball,\nund \"Zitate\" <auch>")
    hr.check("input[name=interests][value=nature]")
    hr.check("input[name=consent]")
    with live_server.app.app_context():  # the page stays open longer than the sign-in lasts
        user_id = db.session.execute(sa_select(User.id).where(User.email == HR)).scalar_one()
        newest = db.session.execute(sa_select(func.max(LoginSession.id)).where(LoginSession.user_id == user_id))
        ago = utcnow() - live_server.app.config["SESSION_IDLE_TIMEOUT"] - timedelta(minutes=1)
        db.session.execute(update(LoginSession).where(LoginSession.id == newest.scalar_one()).values(last_seen_at=ago))
        db.session.commit()
        db.session.remove()

    submit_by_htmx(hr, hr.locator("form.tour-form .form-actions button[type=submit]"), 200)
    main = hr.locator("main")
    expect(main).to_contain_text("Ihre Anmeldung war abgelaufen, deshalb wurde das Formular noch nicht gespeichert.")
    assert hr.locator("main h1").inner_text() == "Bei Tourbook anmelden"
    assert hr.locator("main h1").count() == 1 and hr.locator("header").count() == 1, "one page, not one in another"
    assert_no_axe_violations(hr, "the sign-in keeping a form")
    form = hr.locator("main form[action^='/login']")
    form.locator("input[name=email]").fill(HR)
    form.locator("input[name=password]").fill(DEMO_PASSWORD)
    with hr.expect_navigation():
        form.locator("button[type=submit]").click()
    expect(hr.locator("main h1")).to_have_text("Sie sind wieder angemeldet")
    assert_no_axe_violations(hr, "sending a kept form again")
    with hr.expect_navigation():
        hr.locator("main form button[type=submit]").click()
    assert path_of(hr).startswith("/tours/") and "booked=1" in hr.url
    assert hr.locator("#booked-heading").inner_text() == TEXT["de"]["booked"].format(name=first_name)
    with live_server.app.app_context():  # everything typed arrived (the note shows on the guide's page)
        from tourbook.models import Tour

        tour = db.session.execute(sa_select(Tour).where(Tour.partner_first_name == first_name)).scalar_one()
        assert tour.guide_note.replace("\r\n", "\n") == "Mag Fußball,\nund \"Zitate\" <auch>"
        assert tour.interest_list == ["nature"]
        db.session.remove()


def end_sign_in(live_server: LiveServer, email: str) -> None:
    from sqlalchemy import update

    from tourbook.extensions import db
    from tourbook.models import LoginSession, User, utcnow

    with live_server.app.app_context():
        user_id = db.session.execute(sa_select(User.id).where(User.email == email)).scalar_one()
        ago = utcnow() - live_server.app.config["SESSION_IDLE_TIMEOUT"] - timedelta(minutes=1)
        db.session.execute(update(LoginSession).where(LoginSession.user_id == user_id).values(last_seen_at=ago))
        db.session.commit()
        db.session.remove()


def test_reschedule_live_check_after_the_sign_in_ended(new_page: Any, live_server: LiveServer) -> None:  # noqa: ANN401
    from tourbook.extensions import db
    from tourbook.models import Tour, User, utcnow

    with live_server.app.app_context():
        hr_id = db.session.execute(sa_select(User.id).where(User.email == HR)).scalar_one()
        tour = db.session.execute(sa_select(Tour).where(Tour.booked_by_id == hr_id, Tour.status == "confirmed",
                                                        Tour.starts_at > utcnow() + timedelta(days=3))
                                  .order_by(Tour.starts_at)).scalars().first()
        tour_id = tour.id
        db.session.remove()
    hr = sign_in(new_page, HR, "de")
    hr.goto(f"/tours/{tour_id}/reschedule")
    end_sign_in(live_server, HR)
    posted = f"/tours/{tour_id}/reschedule"
    with hr.expect_response(lambda r: r.url.endswith(posted) and r.request.method == "POST") as info:
        hr.evaluate("""() => { const i = document.querySelector('input[name=start]'); i.value = '21:00';
                                i.dispatchEvent(new Event('change', {bubbles: true})); }""")
    assert info.value.headers["hx-reselect"] == "unset"
    # The whole page becomes the sign-in keeping the form (before: htmx applied the field's
    # hx-select="#availability > *" to it and emptied the body).
    expect(hr.locator("main form[action='/login'] input[name=kept_target]")).to_have_count(1)
    assert hr.locator("main h1").count() == 1


def test_removing_a_window_after_the_sign_in_ended(new_page: Any, live_server: LiveServer,  # noqa: ANN401
                                                   page_watch: PageWatch) -> None:
    page_watch.allow_status(401)  # the answer that sends htmx to the sign-in
    guide = sign_in(new_page, GUIDES["Gisela"], "de")
    guide.goto("/")
    guide.locator("a", has_text="Meine Zeiten").first.click()
    guide.wait_for_load_state("networkidle")
    end_sign_in(live_server, GUIDES["Gisela"])
    with guide.expect_response(lambda r: "/windows/" in r.url and r.request.method == "POST") as info:
        guide.locator("#windows form.inline-form button").first.click()
    assert info.value.status == 401  # before: 204, and the click did nothing
    guide.wait_for_url("**/login?next=/guides/*/hours")
