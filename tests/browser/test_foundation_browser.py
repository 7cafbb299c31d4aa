"""Issue 2 in a real browser: each demo role signs in, walks the pages its navigation leads to, fills forms
wrongly and rightly through htmx, and axe-core finds no WCAG 2.1 A/AA violation anywhere on the way.

German translations are not filled in yet, so nothing here asserts German wording; the language is read from
``<html lang>``. Links are found by their addresses, not by their text."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest

from .conftest import PageWatch, assert_no_axe_violations, login, path_of, submit_by_htmx

pytestmark = pytest.mark.browser

ADMIN = "admin@demo.example"
COORDINATOR = "coordinator@demo.example"
GUIDE = "guide@demo.example"
HR = "hr@demo.example"


def follow(page: Any, href: str, within: str = "body") -> None:  # noqa: ANN401
    """Click the (first) link to ``href`` inside ``within``, as a person would, and wait for the page."""
    with page.expect_navigation() as navigation:
        page.locator(f'{within} a[href="{href}"]').first.click()
    response = navigation.value
    assert response is not None and response.status < 400, (
        f"{href} answered {response.status if response else 'nothing'}"
    )
    assert path_of(page) == urlsplit(href).path


def nav_links(page: Any) -> list[str]:  # noqa: ANN401
    links = page.locator("nav.site-nav a[href]")
    return links.evaluate_all("links => links.map(a => a.getAttribute('href'))")


def visit_every_nav_page(page: Any, role: str) -> list[str]:  # noqa: ANN401
    """Follow each link of the main navigation and check the page it leads to."""
    links = nav_links(page)
    assert links, f"{role}: no main navigation after signing in"
    for href in links:
        follow(page, href, within="nav.site-nav")
        assert page.locator("h1").count() == 1, f"{role}: {href} should have exactly one h1"
        assert_no_axe_violations(page, f"{role}: {href}")
    return links


def assert_form_errors_shown(page: Any, label: str) -> None:  # noqa: ANN401
    """After a 422 swap: fields are marked, the summary has the focus, and axe is still content."""
    assert page.locator("main [aria-invalid='true']").count() > 0, f"{label}: no field is marked invalid"
    focused = page.evaluate("() => !!document.activeElement?.matches('[data-focus-on-swap]')")
    assert focused, f"{label}: the error summary did not get the focus after the swap"
    assert page.locator("main [role='alert']").count() >= 1, f"{label}: errors are not announced"
    for described in page.locator("main [aria-invalid='true']").all():
        ids = (described.get_attribute("aria-describedby") or "").split()
        assert any(page.locator(f"#{i}.kern-error").count() for i in ids), (
            f"{label}: an invalid field is not described by its error message"
        )
    assert_no_axe_violations(page, label)


# --- signed out --------------------------------------------------------------------------------------


def test_signed_out_pages_have_no_violations(page: Any, page_watch: PageWatch) -> None:  # noqa: ANN401
    page.goto("/")
    assert path_of(page) == "/login"
    assert page.locator("html").get_attribute("lang") == "de"
    assert_no_axe_violations(page, "login page")

    follow(page, "/password/forgot", within="main")
    assert_no_axe_violations(page, "forgot password")
    form = page.locator("main form[hx-post='/password/forgot']")
    submit_by_htmx(page, form.locator("button[type=submit]"), 422)
    assert_form_errors_shown(page, "forgot password, empty")

    page_watch.allow_status(404)
    page.goto("/password/set/not-a-token")
    assert_no_axe_violations(page, "invalid password link")
    page.goto("/no-such-page")
    assert_no_axe_violations(page, "404 page")


def test_wrong_password_is_shown_inline_and_announced(page: Any) -> None:  # noqa: ANN401
    page.goto("/login")
    form = page.locator("main form[hx-post^='/login']")
    form.locator("input[name=email]").fill(COORDINATOR)
    form.locator("input[name=password]").fill("not the password")
    submit_by_htmx(page, form.locator("button[type=submit]"), 422)
    assert path_of(page) == "/login"
    assert page.locator("input[name=email]").input_value() == COORDINATOR, "the email typed was lost"
    assert_form_errors_shown(page, "login with a wrong password")
    # The corrected form still signs in after the swap (the CSRF token survived it).
    page.locator("input[name=password]").fill("tourbook-demo")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/c/siegen/")


# --- admin -------------------------------------------------------------------------------------------


def test_admin_walks_cities_and_coordinators(page: Any) -> None:  # noqa: ANN401
    login(page, ADMIN)
    assert path_of(page) == "/admin/cities"
    assert_no_axe_violations(page, "admin: cities (start page)")
    visit_every_nav_page(page, "admin")

    follow(page, "/admin/cities", within="nav.site-nav")
    follow(page, "/c/siegen/", within="main table")
    assert_no_axe_violations(page, "admin: city page")

    follow(page, "/admin/cities/siegen/edit", within="main")
    assert_no_axe_violations(page, "admin: edit city")
    form = page.locator("main form[hx-post='/admin/cities/siegen/edit']")
    form.locator("input[name=name]").fill("")
    submit_by_htmx(page, form.locator("button[type=submit]"), 422)
    assert_form_errors_shown(page, "admin: edit city with an empty name")

    follow(page, "/admin/cities", within="nav.site-nav")
    follow(page, "/c/siegen/coordinators", within="main table")
    assert_no_axe_violations(page, "admin: coordinators of Siegen")
    follow(page, "/c/siegen/coordinators/new", within="main")
    assert_no_axe_violations(page, "admin: new coordinator")
    form = page.locator("main form[hx-post='/c/siegen/coordinators/new']")
    submit_by_htmx(page, form.locator("button[type=submit]"), 422)
    assert_form_errors_shown(page, "admin: new coordinator, empty")


def test_admin_adds_a_city_with_errors_first(page: Any) -> None:  # noqa: ANN401
    login(page, ADMIN)
    follow(page, "/admin/cities/new", within="main")
    assert_no_axe_violations(page, "admin: new city")
    form = page.locator("main form[hx-post='/admin/cities/new']")
    form.locator("input[name=slug]").fill("Not A Slug!")
    submit_by_htmx(page, form.locator("button[type=submit]"), 422)
    assert_form_errors_shown(page, "admin: new city with errors")


# --- coordinator -------------------------------------------------------------------------------------


def test_coordinator_walks_overview_guides_and_companies(page: Any) -> None:  # noqa: ANN401
    login(page, COORDINATOR)
    assert path_of(page) == "/c/siegen/"
    assert_no_axe_violations(page, "coordinator: overview (start page)")
    links = visit_every_nav_page(page, "coordinator")
    assert {"/c/siegen/", "/c/siegen/guides", "/c/siegen/companies", "/account"} <= set(links)

    follow(page, "/c/siegen/guides", within="nav.site-nav")
    with page.expect_response(lambda r: "guides?q=" in r.url and r.request.headers.get("hx-request")):
        page.locator("#q").fill("Gisela")
    page.wait_for_function("() => document.querySelectorAll('#people tbody tr').length === 1")
    assert_no_axe_violations(page, "coordinator: guides after a search (htmx swap)")

    page.locator("#people tbody a").first.click()
    page.wait_for_url("**/c/siegen/people/*")
    assert_no_axe_violations(page, "coordinator: a guide's account")

    follow(page, "/c/siegen/companies", within="nav.site-nav")
    company_href = page.locator("main table a[href^='/c/siegen/companies/']").first.get_attribute("href")
    follow(page, company_href, within="main table")
    assert_no_axe_violations(page, "coordinator: a company")
    form = page.locator(f"main form[hx-post='{company_href}']")
    form.locator("input[name=name]").fill("")
    submit_by_htmx(page, form.locator("button[type=submit]"), 422)
    assert_form_errors_shown(page, "coordinator: company with an empty name")

    follow(page, company_href + "/hr/new", within="main")
    assert_no_axe_violations(page, "coordinator: new HR account")
    form = page.locator(f"main form[hx-post='{company_href}/hr/new']")
    submit_by_htmx(page, form.locator("button[type=submit]"), 422)
    assert_form_errors_shown(page, "coordinator: new HR account, empty")

    follow(page, "/c/siegen/companies", within="nav.site-nav")
    follow(page, "/c/siegen/companies/new", within="main")
    assert_no_axe_violations(page, "coordinator: enrol a company")


def test_a_checkbox_hint_reads_in_lines_under_its_label(new_page: Any) -> None:  # noqa: ANN401
    """The hint under "Account is active" starts where the label's text starts and keeps the label's width
    (it fell into the checkbox's 32px column before, one word per line)."""
    for width in (390, 1280):
        page = new_page(viewport={"width": width, "height": 900})
        login(page, COORDINATOR)
        page.goto("/c/siegen/guides")
        page.locator("#people tbody a").first.click()
        page.wait_for_url("**/c/siegen/people/*")
        hint, label = page.locator("#active-hint"), page.locator("label[for=active]")
        text_left = label.evaluate("e => e.getBoundingClientRect().left + parseFloat(getComputedStyle(e).paddingLeft)")
        lines = hint.evaluate("e => { const r = document.createRange(); r.selectNodeContents(e); "
                              "return new Set([...r.getClientRects()].map((box) => Math.round(box.top))).size; }")
        assert abs(hint.evaluate("e => e.getBoundingClientRect().left + parseFloat(getComputedStyle(e).paddingLeft)")
                   - text_left) < 1, "the hint does not start under the label's text"
        assert lines <= 2, f"the hint takes {lines} lines at {width}px"
        assert_no_axe_violations(page, f"coordinator: a guide's account at {width}px")


def test_the_copy_button_stands_beside_the_whole_width_address(new_page: Any) -> None:  # noqa: ANN401
    """The calendar address and its copy button share the field's width on a desktop (the row shrank to its
    content: the address was cut short and the button wrapped below it); on a phone the address keeps the
    screen's width and the button goes below it."""
    for width in (1280, 390):
        page = new_page(viewport={"width": width, "height": 900})
        login(page, GUIDE)
        page.goto("/calendar")
        field = page.locator(".copy-field").bounding_box()
        address, button = page.locator("#feed-url").bounding_box(), page.locator("button[data-copy]").bounding_box()
        if width > 600:
            assert abs(button["y"] - address["y"]) < 1, "the button is not beside the address"
            assert abs(button["x"] + button["width"] - (field["x"] + field["width"])) < 1, (
                "the address and its button do not fill the field's width")
        else:
            assert button["y"] > address["y"] and abs(address["width"] - field["width"]) < 1, (
                "on a phone the address should take the whole width, its button below it")
        assert_no_axe_violations(page, f"guide: calendar subscription at {width}px")


def test_coordinator_creates_a_guide_and_sees_the_one_time_link(page: Any) -> None:  # noqa: ANN401
    login(page, COORDINATOR)
    follow(page, "/c/siegen/guides", within="nav.site-nav")
    follow(page, "/c/siegen/guides/new", within="main")
    assert_no_axe_violations(page, "coordinator: new guide")

    form = page.locator("main form[hx-post='/c/siegen/guides/new']")
    submit_by_htmx(page, form.locator("button[type=submit]"), 422)
    assert_form_errors_shown(page, "coordinator: new guide, empty")

    email = f"neu-{uuid.uuid4().hex[:8]}@example.org"
    form.locator("input[name=name]").fill("Jana Neumann")
    form.locator("input[name=email]").fill(email)
    submit_by_htmx(page, form.locator("button[type=submit]"), 200)
    link = page.locator("#password-link")
    assert link.count() == 1, "the one-time link did not appear"
    assert "/password/set/" in link.input_value()
    assert email in page.locator("main").inner_text()
    # The link replaced the form; it did not nest a second page (header, main, skip link) inside this one.
    assert page.locator("main").count() == 1
    assert page.locator(".skip-link").count() == 1
    assert page.locator("h1").count() == 1
    assert page.evaluate("() => !!document.activeElement?.closest('[data-focus-on-swap]')"), (
        "the focus should move to the new link after the swap"
    )
    assert_no_axe_violations(page, "coordinator: one-time link of a new guide")


# --- guide and HR ------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", [GUIDE, HR])
def test_guide_and_hr_see_their_start_page_and_account(page: Any, email: str) -> None:  # noqa: ANN401
    role = email.split("@")[0]
    login(page, email)
    start = path_of(page)
    assert_no_axe_violations(page, f"{role}: start page ({start})")
    links = visit_every_nav_page(page, role)
    assert "/account" in links
    assert start in links, f"{role}: the start page {start} is not in the navigation {links}"

    follow(page, "/account", within="nav.site-nav")
    password_form = page.locator("main form[hx-post='/account']:has(input[name=form][value=password])")
    submit_by_htmx(page, password_form.locator("button[type=submit]"), 422)
    assert_form_errors_shown(page, f"{role}: change password, empty")

    profile_form = page.locator("main form[hx-post='/account']:has(input[name=form][value=profile])")
    profile_form.locator("input[name='profile-name']").fill("")
    submit_by_htmx(page, profile_form.locator("button[type=submit]"), 422)
    assert_form_errors_shown(page, f"{role}: profile with an empty name")


# --- language, keyboard, no JavaScript, no third parties ---------------------------------------------


def test_language_switch_gives_english(page: Any) -> None:  # noqa: ANN401
    page.goto("/login")
    assert page.locator("html").get_attribute("lang") == "de"
    follow(page, "/login?lang=en", within=".lang-switch")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("button", name="Sign in").is_visible()
    assert page.locator(".lang-switch a[hreflang=de]").count() == 1
    assert_no_axe_violations(page, "login page in English")

    # The choice made on the sign-in page stays once signed in; the switch works the same and the choice
    # stays while moving on.
    login(page, COORDINATOR)
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("button", name="Sign out").is_visible()
    follow(page, "/c/siegen/?lang=de", within=".lang-switch")
    assert page.locator("html").get_attribute("lang") == "de"
    follow(page, "/c/siegen/guides", within="nav.site-nav")
    assert page.locator("html").get_attribute("lang") == "de"
    follow(page, "/c/siegen/guides?lang=en", within=".lang-switch")
    assert page.locator("html").get_attribute("lang") == "en"


def test_english_browser_gets_english(new_page: Any) -> None:  # noqa: ANN401
    page = new_page(locale="en-GB")
    page.goto("/login")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Sign in to Tourbook"


def test_login_works_without_javascript(new_page: Any, page_watch: PageWatch) -> None:  # noqa: ANN401
    page = new_page(java_script_enabled=False)
    page.goto("/login")
    page.locator("input[name=email]").fill(COORDINATOR)
    page.locator("input[name=password]").fill("wrong password")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state("load")
    assert path_of(page) == "/login"
    assert page.locator("main [aria-invalid='true']").count() > 0, "a plain post should show the errors too"

    page.locator("input[name=password]").fill("tourbook-demo")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/c/siegen/")
    assert page.locator("nav.site-nav form[action='/logout'] button").is_visible()
    # Signing out is a plain form too.
    page.locator("nav.site-nav form[action='/logout'] button").click()
    page.wait_for_url("**/login")
    assert page.locator("nav.site-nav").count() == 0


@pytest.mark.parametrize("signed_in", [False, True], ids=["signed-out", "signed-in"])
def test_skip_link_is_the_first_focusable_element(page: Any, signed_in: bool) -> None:  # noqa: ANN401
    if signed_in:
        login(page, COORDINATOR)
    else:
        page.goto("/login")
    page.keyboard.press("Tab")
    skip = page.evaluate(
        """() => {
            const el = document.activeElement, box = el.getBoundingClientRect();
            return {cls: el.className, href: el.getAttribute('href'),
                    visible: box.width > 0 && box.height > 0 && box.left >= 0 && box.top >= 0
                             && box.right <= innerWidth};
        }"""
    )
    assert "skip-link" in skip["cls"], f"the first Tab lands on {skip}, not on the skip link"
    assert skip["href"] == "#main"
    assert skip["visible"], "the focused skip link is not visible"
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.getElementById('main').contains(document.activeElement)"), (
        "after the skip link, Tab should go on inside the main content"
    )


def test_no_request_leaves_the_machine(page: Any) -> None:  # noqa: ANN401
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto("/login")
    login(page, COORDINATOR)
    follow(page, "/c/siegen/companies", within="nav.site-nav")
    follow(page, "/c/siegen/companies?lang=en", within=".lang-switch")
    assert any(u.endswith(".woff2") for u in urls), "the fonts were not even loaded"
    assert any("htmx" in u for u in urls)
    foreign = sorted({u for u in urls if urlsplit(u).hostname != "127.0.0.1"})
    assert not foreign, f"requests to other hosts: {foreign}"
