"""Reports: numbers computed from tours whose facts the test knows, the CSV holding the same numbers as the
charts and tables, accessible SVG charts, the period form, htmx fragments and who may see which city."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from conftest import TEST_PASSWORD
from helpers_foundation import (  # noqa: F401 - fixtures
    HTMX,
    english_client,
    english_make_user,
    fresh_request_globals,
    sign_in,
    text_of,
)

from tourbook.extensions import db
from tourbook.models import Role, Tour
from tourbook.reports import build_report

BERLIN = ZoneInfo("Europe/Berlin")
PERIOD = {"from": "2030-01-01", "to": "2030-03-31"}
_uid = iter(range(1, 10_000))


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), BERLIN)


def add_tour(city, company, guide, start: datetime, minutes: int, status: str = "done", **fields) -> Tour:
    """A tour written straight to the table, with the facts the reports count."""
    n = next(_uid)
    end = start + timedelta(minutes=minutes)
    fields.setdefault("partner_first_name", f"Partner{n}")
    fields.setdefault("partner_language", "de")
    fields.setdefault("people", 1)
    fields.setdefault("interests", "")
    if status == "cancelled":
        fields.setdefault("cancelled_by", "hr")
        fields.setdefault("cancelled_at", start - timedelta(days=1))
    tour = Tour(
        uid=f"report-{n}-{city.slug}", token=f"report-token-{n}-{city.slug}", city_id=city.id,
        company_id=company.id, booked_by_id=None,
        guide_id=guide.id if guide and status != "needs_guide" else None, status=status, starts_at=start,
        ends_at=end, blocked_until=end + timedelta(minutes=15),
        consent_at=start - timedelta(days=5), sequence=0, created_at=start - timedelta(days=5),
        updated_at=start - timedelta(days=5), **fields,
    )
    db.session.add(tour)
    return tour


@pytest.fixture
def region(make_city, make_company, make_user):
    """Two cities. Siegen has, from January to March 2030 (plus tours just outside the period):

    | # | day    | company | guide | status            | lang | people | interests        | rating | hours |
    |---|--------|---------|-------|-------------------|------|--------|------------------|--------|-------|
    | 1 | Jan 10 | Alpha   | Anna  | done              | de   | 3      | housing, schools | 5      | 2     |
    | 2 | Jan 20 | Alpha   | Bert  | done              | en   | 2      | housing          | 4      | 1.5   |
    | 3 | Feb 5  | Beta    | Anna  | no_show           | en   | 1      | culture          |        | (1)   |
    | 4 | Feb 6  | Beta    | Anna  | cancelled by HR   | de   | 2      | housing          |        |       |
    | 5 | Feb 7  | Alpha   | Bert  | cancelled partner | tr   | 1      |                  |        |       |
    | 6 | Mar 3  | Alpha   | Bert  | done              | de   | 4      |                  | 3      | 4     |
    | 7 | Mar 20 | Beta    |  –    | needs_guide       | en   | 2      | nature, schools  |        |       |
    | 8 | Mar 25 | Alpha   | Anna  | cancelled by coord| de   | 1      |                  |        |       |
    Outside: Dec 31 2029 and Apr 1 2030 (done, Alpha). Olpe: two done tours in February (Gamma, de, 5 people).
    """
    siegen = make_city(name="Siegen", slug="siegen")
    olpe = make_city(name="Olpe", slug="olpe")
    alpha = make_company(cities=[siegen], name="Alpha GmbH")
    beta = make_company(cities=[siegen], name="Beta AG")
    gamma = make_company(cities=[olpe], name="Gamma KG")
    anna = make_user(Role.GUIDE, city=siegen, name="Anna Guide")
    bert = make_user(Role.GUIDE, city=siegen, name="Bert Guide")
    olga = make_user(Role.GUIDE, city=olpe, name="Olga Guide")
    add_tour(siegen, alpha, anna, at(date(2030, 1, 10), 10), 120, people=3, interests="housing,schools",
             feedback_rating=5, feedback_comment="Lovely")
    add_tour(siegen, alpha, bert, at(date(2030, 1, 20), 14), 90, partner_language="en", people=2,
             interests="housing", feedback_rating=4)
    add_tour(siegen, beta, anna, at(date(2030, 2, 5), 10), 60, status="no_show", partner_language="en",
             interests="culture")
    add_tour(siegen, beta, anna, at(date(2030, 2, 6), 10), 120, status="cancelled", people=2,
             interests="housing")
    add_tour(siegen, alpha, bert, at(date(2030, 2, 7), 10), 120, status="cancelled", cancelled_by="partner",
             partner_language="tr")
    add_tour(siegen, alpha, bert, at(date(2030, 3, 3), 9), 240, people=4, feedback_rating=3)
    add_tour(siegen, beta, None, at(date(2030, 3, 20), 10), 120, status="needs_guide", partner_language="en",
             people=2, interests="nature,schools")
    add_tour(siegen, alpha, anna, at(date(2030, 3, 25), 10), 60, status="cancelled",
             cancelled_by="coordinator")
    add_tour(siegen, alpha, anna, at(date(2029, 12, 31), 10), 60, people=7, feedback_rating=1)
    add_tour(siegen, alpha, bert, at(date(2030, 4, 1), 10), 60, people=7, feedback_rating=1)
    add_tour(olpe, gamma, olga, at(date(2030, 2, 10), 10), 120, people=5, feedback_rating=2)
    add_tour(olpe, gamma, olga, at(date(2030, 2, 11), 10), 120, people=5)
    db.session.commit()
    return {"siegen": siegen, "olpe": olpe}


def rows(report, key: str) -> dict[str, float]:
    section = next(s for s in report.sections if s.key == key)
    return dict(section.rows)


@pytest.fixture
def english(app):
    """Labels in English (the German catalogue is being filled by someone else)."""
    with app.test_request_context("/?lang=en", headers={"Accept-Language": "en"}):
        from flask import g

        g.forced_locale = "en"
        from flask_babel import refresh

        refresh()
        yield


# --- the numbers ----------------------------------------------------------------------------------------


def test_city_report_counts_what_happened_in_the_period(region, english):
    report = build_report(db.session, [region["siegen"].id], date(2030, 1, 1), date(2030, 3, 31))

    assert report.totals == {"booked": 5, "cancelled": 3, "no_show": 1, "done": 3, "people": 9,
                             "rating": 4.0, "ratings": 3}
    assert rows(report, "months") == {"01/2030": 2, "02/2030": 1, "03/2030": 2}
    assert rows(report, "companies") == {"Alpha GmbH": 3, "Beta AG": 2}
    assert rows(report, "cancellations") == {"by HR": 1, "by the partner": 1, "by the coordinator": 1}
    assert rows(report, "outcomes") == {"held": 3, "partner did not come": 1}
    assert rows(report, "languages") == {"German": 2, "English": 3}
    interests = rows(report, "interests")
    assert interests["Housing"] == 2  # the cancelled tour's housing does not count
    assert interests["Schools & childcare"] == 2
    assert interests["Culture & leisure"] == 1
    assert interests["Nature"] == 1
    assert interests["Sports & clubs"] == 0
    assert rows(report, "ratings") == {"5": 1, "4": 1, "3": 1, "2": 0, "1": 0}
    assert rows(report, "guide_hours") == {"Anna Guide": 2.0, "Bert Guide": 5.5}


def test_sections_are_ordered_for_reading(region, english):
    report = build_report(db.session, [region["siegen"].id], date(2030, 1, 1), date(2030, 3, 31))
    assert [s.key for s in report.sections] == [
        "months", "companies", "cancellations", "outcomes", "languages", "interests", "ratings",
        "guide_hours",
    ]
    assert [label for label, _ in next(s for s in report.sections if s.key == "companies").rows] == [
        "Alpha GmbH", "Beta AG"]
    interests = [value for _, value in next(s for s in report.sections if s.key == "interests").rows]
    assert interests == sorted(interests, reverse=True)


def test_a_month_without_tours_is_shown_as_zero(region, english):
    report = build_report(db.session, [region["siegen"].id], date(2029, 11, 15), date(2030, 1, 31))
    assert rows(report, "months") == {"11/2029": 0, "12/2029": 1, "01/2030": 2}


def test_period_bounds_are_local_days(region, english):
    # The tour of 10 January starts at 10:00 in Siegen: a one-day period of that day holds it.
    report = build_report(db.session, [region["siegen"].id], date(2030, 1, 10), date(2030, 1, 10))
    assert report.totals["booked"] == 1
    assert build_report(db.session, [region["siegen"].id], date(2030, 1, 11), date(2030, 1, 19)).totals[
        "booked"] == 0


def test_admin_report_adds_up_every_city(region, english):
    ids = [region["siegen"].id, region["olpe"].id]
    report = build_report(db.session, ids, date(2030, 1, 1), date(2030, 3, 31))
    assert report.totals == {"booked": 7, "cancelled": 3, "no_show": 1, "done": 5, "people": 19,
                             "rating": 3.5, "ratings": 4}
    assert rows(report, "months") == {"01/2030": 2, "02/2030": 3, "03/2030": 2}
    assert rows(report, "companies") == {"Alpha GmbH": 3, "Beta AG": 2, "Gamma KG": 2}
    assert rows(report, "languages") == {"German": 4, "English": 3}
    assert rows(report, "guide_hours") == {"Anna Guide": 2.0, "Bert Guide": 5.5, "Olga Guide": 4.0}
    olpe = build_report(db.session, [region["olpe"].id], date(2030, 1, 1), date(2030, 3, 31))
    assert olpe.totals["booked"] == 2 and olpe.totals["people"] == 10


def test_an_empty_period_gives_zeros_not_errors(region, english):
    report = build_report(db.session, [region["siegen"].id], date(2031, 1, 1), date(2031, 1, 31))
    assert report.totals == {"booked": 0, "cancelled": 0, "no_show": 0, "done": 0, "people": 0,
                             "rating": 0.0, "ratings": 0}
    assert rows(report, "companies") == {}
    assert rows(report, "guide_hours") == {}


# --- the pages ------------------------------------------------------------------------------------------


@pytest.fixture
def coordinator(region, make_user):
    return make_user(Role.COORDINATOR, city=region["siegen"], language="en")


@pytest.fixture
def admin(make_user):
    return make_user(Role.ADMIN, language="en")


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


ENGLISH_HEADER = ["Section", "Item", "Value"]
GERMAN_HEADER = ["Bereich", "Eintrag", "Wert"]


def parse_csv(body: str, header: list[str] = ENGLISH_HEADER) -> dict[str, dict[str, str]]:
    """The CSV as a spreadsheet shows it: the values by section title and label."""
    table: dict[str, dict[str, str]] = {}
    reader = csv.reader(io.StringIO(body.removeprefix("\ufeff")))
    assert next(reader) == header
    for section, label, value in reader:
        table.setdefault(section, {})[label] = value
    return table


def table_rows(html: str, section: str) -> dict[str, str]:
    """The data table beside a chart, as the page shows it."""
    pattern = rf'<section class="report-section" aria-labelledby="h-{section}">(.*?)</section>'
    block = re.search(pattern, html, re.S)
    assert block, f"no section {section}"
    cells = re.findall(r'<th scope="row"[^>]*>(.*?)</th><td[^>]*>(.*?)</td>', block.group(1), re.S)
    from html import unescape

    return {unescape(label): value for label, value in cells}


def test_csv_holds_the_numbers_of_the_charts_and_tables(client, region, coordinator):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    response = client.get("/reports/report.csv", query_string=PERIOD)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="tourbook-siegen-2030-01-01-2030-03-31.csv"' in response.headers["Content-Disposition"]
    exported = parse_csv(response.get_data(as_text=True))

    page = client.get("/reports/", query_string=PERIOD).get_data(as_text=True)
    with client.application.test_request_context(headers={"Accept-Language": "en"}):
        from flask import g
        from flask_babel import refresh

        g.forced_locale = "en"
        refresh()
        report = build_report(db.session, [region["siegen"].id], date(2030, 1, 1), date(2030, 3, 31))
    assert exported["Key figures"] == {
        "tours booked": "5", "cancelled": "3", "partner did not come": "1", "tours held": "3",
        "people reached": "9", "average rating": "4.0", "number of ratings": "3",
    }
    assert list(exported["Key figures"].values()) == [str(v) for v in report.totals.values()]
    for section in report.sections:
        expected = {label: number(value) for label, value in section.rows}
        assert exported.get(section.title, {}) == expected, section.key
        assert table_rows(page, section.key) == expected, section.key
        # the chart draws the same values, each written at its bar
        chart = rf'<svg[^>]*aria-labelledby="chart-{section.key}-title[^>]*>.*?</svg>'
        svg = re.search(chart, page, re.S).group(0)
        drawn = re.findall(r'font-size="1[58]" fill="#1b1f29">([^<]+)</text>', svg)
        for value in expected.values():
            assert value in drawn, (section.key, value, drawn)
    assert exported["Guide hours"] == {"Anna Guide": "2", "Bert Guide": "5.5"}


def test_every_chart_is_an_accessible_image_with_a_table_beside_it(client, region, coordinator):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    html = client.get("/reports/", query_string=PERIOD).get_data(as_text=True)
    svgs = re.findall(r"<svg\b.*?</svg>", html, re.S)
    assert len(svgs) == 8
    for svg in svgs:
        assert 'role="img"' in svg
        chart = re.search(r'aria-labelledby="(chart-[a-z_]+)-title \1-desc"', svg)
        assert chart, svg[:200]
        key = chart.group(1)
        assert re.search(rf'<title id="{key}-title">[^<]+</title>', svg)
        assert re.search(rf'<desc id="{key}-desc">[^<]+</desc>', svg)
    sections = re.findall(r'<section class="report-section".*?</section>', html, re.S)
    assert len(sections) == 8
    for section in sections:
        assert "<svg" in section and "<table" in section and "<caption" in section
    assert "Tours per month" in html and "Guide hours" in html


def test_page_shows_key_figures(client, region, coordinator):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    page = text_of(client.get("/reports/", query_string=PERIOD))
    assert "Reports – Siegen" in page
    assert "5 tours booked" in page
    assert "3 tours held" in page
    assert "9 people reached" in page
    assert "3 cancelled" in page
    assert "4 average rating (3 ratings)" in page


@pytest.mark.parametrize(("query", "message"), [
    ({"from": "2030-02-30", "to": "2030-03-31"}, "The start date is not a date."),
    ({"from": "2030-01-01", "to": "tomorrow"}, "The end date is not a date."),
    ({"from": "2030-03-31", "to": "2030-01-01"}, "The period must not end before it starts."),
    ({"from": "2020-01-01", "to": "2030-03-31"}, "Please choose at most three years."),
    ({"from": "0001-01-01", "to": "0001-01-02"}, "Please choose dates between"),
    ({"from": "2030-01-01", "to": "9999-12-31"}, "Please choose dates between"),
    ({"from": "2030-01-01\x00", "to": "2030-03-31"}, "The start date is not a date."),
    ({"from": "9" * 400, "to": "2030-03-31"}, "The start date is not a date."),
])
def test_a_bad_period_shows_a_message_never_an_error(client, region, coordinator, query, message):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    response = client.get("/reports/", query_string=query)
    assert response.status_code == 200
    assert message in text_of(response)
    assert client.get("/reports/", query_string=query, headers=HTMX).status_code == 200
    download = client.get("/reports/report.csv", query_string=query)
    assert download.status_code == 200
    assert download.get_data(as_text=True).startswith("\ufeffSection,Item,Value")


def test_end_before_start_shows_the_swapped_period(client, region, coordinator):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    response = client.get("/reports/", query_string={"from": "2030-03-31", "to": "2030-01-01"})
    assert "5 tours booked" in text_of(response)
    assert 'value="2030-01-01"' in response.get_data(as_text=True)


def test_without_a_period_the_last_twelve_months_are_shown(client, region, coordinator):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    html = client.get("/reports/").get_data(as_text=True)
    today = date.today()
    assert f'id="report-to" name="to" value="{today.isoformat()}"' in html
    months = re.search(r'<section class="report-section" aria-labelledby="h-months">.*?</section>', html,
                       re.S)
    assert len(re.findall(r'<th scope="row"', months.group(0))) == 12


def test_each_table_names_what_its_rows_and_numbers_are(client, region, coordinator):
    """The tables beside the charts say what a row is and what it counts (all said 'Item' and 'Number': the
    feedback table read 'Item 5, Number 13')."""
    sign_in(client, coordinator.email, TEST_PASSWORD)
    for lang, expected in (
        ("en", {"months": ("Month", "Tours"), "ratings": ("Rating", "Number"), "guide_hours": ("Guide", "Hours"),
                "cancellations": ("Cancelled", "Tours")}),
        ("de", {"months": ("Monat", "Touren"), "ratings": ("Bewertung", "Anzahl"),
                "guide_hours": ("Guide", "Stunden"), "cancellations": ("Abgesagt", "Touren")}),
    ):
        html = client.get("/reports/", query_string={**PERIOD, "lang": lang}).get_data(as_text=True)
        for key, headers in expected.items():
            section = re.search(rf'<section class="report-section" aria-labelledby="h-{key}">.*?</section>', html,
                                re.S).group(0)
            found = tuple(re.sub(r"<[^>]+>", "", h).strip() for h in re.findall(r'<th scope="col"[^>]*>(.*?)</th>',
                                                                             section, re.S))
            assert found == headers, f"{lang} {key}: {found}"


def test_htmx_request_gets_only_the_report_fragment(client, region, coordinator):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    full = client.get("/reports/", query_string=PERIOD)
    assert "HX-Request" in full.headers.get("Vary", "")
    assert "<html" in full.get_data(as_text=True)
    fragment = client.get("/reports/", query_string=PERIOD, headers=HTMX)
    body = fragment.get_data(as_text=True).strip()
    assert fragment.status_code == 200
    assert "HX-Request" in fragment.headers.get("Vary", "")
    assert "<html" not in body and "<form" not in body
    assert body.count('<div id="report"') == 1 and body.endswith("</div>")
    assert "5 tours booked" in text_of(fragment)
    # beside it, out of band: the heading (the admin may have chosen another city) and a short status line
    # in a live region that stays in the page, so screen readers hear what changed
    oob = re.findall(r'<(h1|p) [^>]*hx-swap-oob="(true|innerHTML)"[^>]*>(.*?)</\1>', body, re.S)
    assert [(tag, swap) for tag, swap, _ in oob] == [("h1", "true"), ("p", "innerHTML")]  # the region stays
    assert oob[0][2] == "Reports – Siegen"
    assert "Period: " in oob[1][2]
    assert body.index('<div id="report"') > body.index('id="report-status"')
    full_html = full.get_data(as_text=True)
    assert full_html.count('id="report-status"') == 1 and "hx-swap-oob" not in full_html
    # a history restore or a boosted navigation gets the whole page
    restore_headers = {**HTMX, "HX-History-Restore-Request": "true"}
    restore = client.get("/reports/", query_string=PERIOD, headers=restore_headers)
    assert "<html" in restore.get_data(as_text=True)


def test_the_period_form_pushes_its_url_and_works_without_javascript(client, region, coordinator):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    html = client.get("/reports/", query_string=PERIOD).get_data(as_text=True)
    form = re.search(r'<form method="get" action="/reports/"[^>]*>', html).group(0)
    assert 'hx-get="/reports/"' in form and 'hx-push-url="true"' in form and 'hx-target="#report"' in form
    assert 'value="2030-01-01"' in html and 'value="2030-03-31"' in html
    link = re.search(r'href="(/reports/report\.csv\?[^"]+)"', html).group(1)
    assert "from=2030-01-01" in link and "to=2030-03-31" in link and "city=" not in link


# --- who sees what --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/reports/", "/reports/report.csv"])
def test_anonymous_visitors_are_sent_to_sign_in(client, region, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    htmx = client.get(path, headers=HTMX)
    assert htmx.headers.get("HX-Redirect", "").startswith("/login")


@pytest.mark.parametrize("role", [Role.HR, Role.GUIDE])
@pytest.mark.parametrize("path", ["/reports/", "/reports/report.csv"])
def test_hr_staff_and_guides_may_not_see_reports(client, region, make_user, role, path):
    kwargs = {"city": region["siegen"]} if role == Role.GUIDE else {}
    user = make_user(role, language="en", **kwargs)
    sign_in(client, user.email, TEST_PASSWORD)
    assert client.get(path, query_string=PERIOD).status_code == 403


@pytest.mark.parametrize("path", ["/reports/", "/reports/report.csv"])
def test_a_coordinator_always_gets_their_own_city(client, region, coordinator, path):
    sign_in(client, coordinator.email, TEST_PASSWORD)
    # the report itself (the fragment; the page's language links keep the query string)
    own = client.get(path, query_string=PERIOD, headers=HTMX).get_data(as_text=True)
    for city in ("olpe", "does-not-exist", ""):
        other = client.get(path, query_string={**PERIOD, "city": city}, headers=HTMX)
        assert other.status_code == 200
        assert other.get_data(as_text=True) == own
    assert "Gamma KG" not in own
    assert "Alpha GmbH" in own


def test_coordinator_of_another_city_sees_only_theirs(client, region, make_user):
    user = make_user(Role.COORDINATOR, city=region["olpe"], language="en")
    sign_in(client, user.email, TEST_PASSWORD)
    response = client.get("/reports/report.csv", query_string={**PERIOD, "city": "siegen"})
    exported = parse_csv(response.get_data(as_text=True))
    assert exported["Tours per company"] == {"Gamma KG": "2"}
    assert exported["Key figures"]["tours booked"] == "2"


def test_admin_sees_all_cities_and_each_city(client, region, admin):
    sign_in(client, admin.email, TEST_PASSWORD)
    everything = client.get("/reports/", query_string=PERIOD)
    assert "Reports – all cities" in text_of(everything)
    assert "7 tours booked" in text_of(everything)
    assert '<select class="kern-form-input__select" id="report-city" name="city">' in everything.get_data(
        as_text=True)
    exported = parse_csv(client.get("/reports/report.csv", query_string=PERIOD).get_data(as_text=True))
    assert exported["Tours per company"] == {"Alpha GmbH": "3", "Beta AG": "2", "Gamma KG": "2"}

    olpe = client.get("/reports/", query_string={**PERIOD, "city": "olpe"})
    assert "Reports – Olpe" in text_of(olpe)
    assert "2 tours booked" in text_of(olpe)
    html = olpe.get_data(as_text=True)
    assert re.search(r'href="/reports/report\.csv\?[^"]*city=olpe', html)
    one = client.get("/reports/report.csv", query_string={**PERIOD, "city": "olpe"})
    assert 'filename="tourbook-olpe-' in one.headers["Content-Disposition"]
    assert parse_csv(one.get_data(as_text=True))["Tours per company"] == {"Gamma KG": "2"}
    assert client.get("/reports/", query_string={**PERIOD, "city": "atlantis"}).status_code == 404


def test_csv_opens_in_spreadsheets_without_running_formulas(client, region, coordinator, make_company):
    hostile = make_company(cities=[region["siegen"]], name='=HYPERLINK("http://evil.example","Müller")')
    add_tour(region["siegen"], hostile, None, at(date(2030, 2, 20), 10), 60, status="needs_guide")
    db.session.commit()
    sign_in(client, coordinator.email, TEST_PASSWORD)
    raw = client.get("/reports/report.csv", query_string=PERIOD).get_data()
    assert raw.startswith(b"\xef\xbb\xbf"), "a byte order mark, so umlauts survive a double click"
    exported = parse_csv(raw.decode("utf-8"))
    assert exported["Tours per company"]["'=HYPERLINK(\"http://evil.example\",\"Müller\")"] == "1"
    assert not any(label.startswith("=") for rows in exported.values() for label in rows)


def test_numbers_on_the_page_are_written_in_the_pages_language(client, region, make_user):
    german = make_user(Role.COORDINATOR, city=region["siegen"], language="de")
    sign_in(client, german.email, TEST_PASSWORD)
    html = client.get("/reports/", query_string=PERIOD).get_data(as_text=True)
    assert table_rows(html, "guide_hours")["Bert Guide"] == "5,5"
    assert ">5,5</text>" in html  # the chart too
    exported = parse_csv(client.get("/reports/report.csv", query_string=PERIOD).get_data(as_text=True),
                         GERMAN_HEADER)
    assert exported["Stunden der Guides"]["Bert Guide"] == "5.5"


def test_csv_speaks_the_language_of_the_page_that_offered_it(client, region, make_user, make_company):
    hostile = make_company(cities=[region["siegen"]], name="=1+1")
    add_tour(region["siegen"], hostile, None, at(date(2030, 2, 20), 10), 60, status="needs_guide")
    db.session.commit()
    german = make_user(Role.COORDINATOR, city=region["siegen"], language="de")
    sign_in(client, german.email, TEST_PASSWORD)
    assert "Touren je Unternehmen" in client.get("/reports/", query_string=PERIOD).get_data(as_text=True)
    body = client.get("/reports/report.csv", query_string=PERIOD).get_data(as_text=True)
    assert body.startswith("\ufeffBereich,Eintrag,Wert\r\n")
    exported = parse_csv(body, GERMAN_HEADER)
    assert exported["Kennzahlen"]["Touren gebucht"] == "6"
    assert exported["Kennzahlen"]["durchschnittliche Bewertung"] == "4.0"
    assert exported["Touren je Unternehmen"] == {"Alpha GmbH": "3", "Beta AG": "2", "'=1+1": "1"}
    assert exported["Absagen und wer abgesagt hat"]["von der Personalabteilung"] == "1"
    assert "Tours per company" not in body and "booked" not in body

    # the same person, having switched the page to English, gets the CSV in English
    assert "Tours per company" in client.get("/reports/", query_string={**PERIOD, "lang": "en"}).get_data(
        as_text=True)
    exported = parse_csv(client.get("/reports/report.csv", query_string=PERIOD).get_data(as_text=True))
    assert exported["Key figures"]["tours booked"] == "6"
    assert exported["Tours per company"]["'=1+1"] == "1"


def test_every_text_cell_of_the_csv_is_guarded_translated_ones_too(monkeypatch):
    from tourbook import reports

    monkeypatch.setattr(reports, "_", lambda text, **values: "=" + text)  # a translation that looks like a formula
    report = reports.Report(date(2030, 1, 1), date(2030, 1, 31), totals={"booked": 2},
                            sections=[reports.Section("s", "+Title", "", [("@label", 2.5), ("-1", 1.0)])])
    rows = list(csv.reader(io.StringIO(reports.report_csv(report))))
    assert rows == [["'=Section", "'=Item", "'=Value"], ["'=Key figures", "'=tours booked", "2"],
                    ["'+Title", "'@label", "2.5"], ["'+Title", "'-1", "1"]]


# --- the charts themselves (pure) -----------------------------------------------------------------------


def test_charts_escape_their_labels_and_texts():
    from tourbook.charts import Series, bar_chart

    svg = bar_chart("c", "Title <1>", "Desc & more", Series(("<script>alert(1)</script>",), (3.0,)))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "<title id=\"c-title\">Title &lt;1&gt;</title>" in svg
    assert "<desc id=\"c-desc\">Desc &amp; more</desc>" in svg


def test_a_long_period_keeps_column_labels_apart():
    from tourbook.charts import Series, column_chart

    labels = tuple(f"{m:02d}/20{y}" for y in (28, 29, 30) for m in range(1, 13))
    svg = column_chart("m", "Months", "Per month", Series(labels, tuple(float(i) for i in range(36))))
    assert svg.count("<rect") == 36
    written = re.findall(r'font-size="16" fill="#1b1f29">([^<]+)</text>', svg)
    assert written == list(labels[::4])
    assert 'font-size="15"' not in svg, "values above 36 thin columns would overlap"
    short = column_chart("m", "Months", "Per month", Series(labels[:12], (1.5,) * 12), fmt=lambda v: f"{v}!")
    assert short.count(">1.5!</text>") == 12
