"""Partner data erases itself: the city's number of days after a tour (cancelled ones too) the partner's name,
email, phone, notes, accessibility needs and feedback comment are gone from the database, the outbox and the
guide's feed; the partner link stops; the anonymous facts stay, so reports do not change. Run with a
controlled clock (``now=``), twice in a row, and from the command line."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import pytest
from conftest import TEST_PASSWORD
from helpers_foundation import (  # noqa: F401 - fixtures
    english_client,
    english_make_user,
    fresh_request_globals,
    sign_in,
    text_of,
)
from sqlalchemy import func, select, text

from tourbook.cli import DAILY_JOBS
from tourbook.extensions import db
from tourbook.models import AuditEntry, OutboxMessage, Role, Tour, utcnow
from tourbook.privacy import purge_partner_data
from tourbook.reports import build_report, report_csv

PERSONAL = ("partner_first_name", "partner_last_name", "partner_email", "partner_phone", "guide_note",
            "accessibility_needs", "feedback_comment", "cancel_reason", "token")
NEEDS = "Needs a ramp: wheelchair user"
_n = iter(range(1, 100_000))


@pytest.fixture
def now():
    """The purge's clock: today, on the second (views that check the real clock agree with it)."""
    return utcnow().replace(microsecond=0)


@pytest.fixture
def city(make_city):
    # The partner link works 60 days here, longer than the 30 days until erasure, so the link still answers
    # before the purge and its 404 afterwards comes from the purge.
    return make_city(name="Siegen", slug="siegen", partner_link_days=60, erase_after_days=30)


@pytest.fixture
def company(city, make_company):
    return make_company(cities=[city], name="Alpha GmbH")


@pytest.fixture
def guide(city, make_user):
    return make_user(Role.GUIDE, city=city, name="Gisela Guide", language="en")


@pytest.fixture
def tour(city, company, guide):
    """A tour with everything a partner may tell, ending ``ended`` before ``now``."""

    def make(now, ended: timedelta, status: str = "done", the_city=None, with_guide: bool = False,
             **fields):
        the_city = the_city or city
        n = next(_n)
        end = now - ended
        start = end - timedelta(hours=2)
        values = dict(
            partner_first_name=f"Fiona{n}", partner_last_name=f"Fischer{n}",
            partner_email=f"fiona{n}@mail.example", partner_phone=f"+49 171 555{n:04d}",
            guide_note=f"Note for the guide {n}", accessibility_needs=NEEDS,
            partner_language="en", interests="housing,schools", people=3, meeting_point="Hauptbahnhof",
            feedback_rating=4 if status == "done" else None,
            feedback_comment=f"Thanks from Fiona{n}" if status == "done" else None,
        )
        if status == "cancelled":
            values.update(cancelled_by="partner", cancelled_at=start - timedelta(days=1),
                          cancel_reason=f"Fiona{n} found another job")
        # Only the feed's tour needs the guide (the database keeps one guide's tours apart).
        values["guide_id"] = guide.id if (with_guide or status == "confirmed") and the_city is city else None
        values.update(fields)
        row = Tour(
            uid=f"purge-{n}", token=f"purge-token-{n:06d}-{'x' * 20}", city_id=the_city.id,
            company_id=company.id, booked_by_id=None, status=status, starts_at=start, ends_at=end,
            blocked_until=end + timedelta(minutes=15),
            consent_at=start - timedelta(days=10), sequence=1, created_at=start - timedelta(days=10),
            updated_at=start - timedelta(days=10), **values,
        )
        db.session.add(row)
        db.session.commit()
        # What the partner told, kept outside the ORM's reach (expire_all reloads attributes from the row).
        row.told = {name: getattr(row, name) for name in PERSONAL}
        return row

    return make


def outbox_for(tour: Tour, status: str = "sent", kind: str = "partner_booked") -> OutboxMessage:
    row = OutboxMessage(
        dedupe_key=f"{kind}:{tour.id}:{status}:{next(_n)}", kind=kind,
        recipient=tour.partner_email or "g@x.example",
        subject=f"Your tour, {tour.partner_first_name}", body_text=f"Hello {tour.partner_first_name}",
        body_html=f"<p>Hello {tour.partner_first_name}</p>", tour_id=tour.id, city_id=tour.city_id,
        status=status,
    )
    db.session.add(row)
    db.session.commit()
    return row


def raw_row(tour_id: int) -> dict:
    """The tour's row as the database holds it (not the ORM's identity map)."""
    db.session.expire_all()
    columns = ", ".join(PERSONAL + ("status", "people", "interests", "partner_language", "feedback_rating",
                                    "company_id", "guide_id", "cancelled_by", "personal_data_erased_at"))
    query = text(f"SELECT {columns} FROM tours WHERE id = :id")  # noqa: S608 - fixed column names
    row = db.session.execute(query, {"id": tour_id}).mappings().one()
    return dict(row)


def erasures() -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.execute(
        select(AuditEntry).where(AuditEntry.action == "partner_data_erased").order_by(AuditEntry.id)
    ).scalars())


# --- what is erased, and when ---------------------------------------------------------------------------


def test_tours_past_the_limit_lose_the_partners_data_and_nothing_else(now, tour, guide):
    old = tour(now, timedelta(days=31), with_guide=True)
    purge_partner_data(db.session, now=now)

    row = raw_row(old.id)
    assert {name: row[name] for name in PERSONAL} == dict.fromkeys(PERSONAL)
    erased_at = row["personal_data_erased_at"]
    assert erased_at is not None
    # the anonymous facts the reports count stay
    facts = ("status", "people", "interests", "partner_language", "feedback_rating")
    assert tuple(row[name] for name in facts) == ("done", 3, "housing,schools", "en", 4)
    assert row["company_id"] == old.company_id and row["guide_id"] == guide.id
    # nothing of it anywhere in the row: search every column's text
    everything = db.session.execute(text("SELECT * FROM tours WHERE id = :id"), {"id": old.id}).one()
    assert not any("Fiona" in str(value) or "555" in str(value) for value in everything)


def test_the_limit_is_the_citys_number_of_days(now, tour, city, make_city):
    just_over = tour(now, timedelta(days=30, minutes=1))
    just_under = tour(now, timedelta(days=29, hours=23))
    future = tour(now, -timedelta(days=3), status="confirmed", feedback_rating=None, feedback_comment=None)
    strict = make_city(name="Olpe", slug="olpe", erase_after_days=7)
    olpe_old = tour(now, timedelta(days=8), the_city=strict)
    olpe_recent = tour(now, timedelta(days=6), the_city=strict)

    totals = purge_partner_data(db.session, now=now)

    assert totals == {"siegen": 1, "olpe": 1}
    assert raw_row(just_over.id)["partner_first_name"] is None
    assert raw_row(olpe_old.id)["partner_first_name"] is None
    for kept in (just_under, future, olpe_recent):
        row = raw_row(kept.id)
        assert row["partner_first_name"] == kept.told["partner_first_name"]
        assert row["token"] == kept.told["token"]
        assert row["accessibility_needs"] == NEEDS
        assert row["personal_data_erased_at"] is None


@pytest.mark.parametrize("status", ["cancelled", "no_show", "confirmed", "needs_guide"])
def test_every_state_is_erased_cancelled_tours_too(now, tour, status):
    old = tour(now, timedelta(days=45), status=status)
    purge_partner_data(db.session, now=now)
    row = raw_row(old.id)
    assert {name: row[name] for name in PERSONAL} == dict.fromkeys(PERSONAL)
    assert row["status"] == status
    if status == "cancelled":
        assert row["cancelled_by"] == "partner"  # who cancelled is a fact for the reports


def test_a_cancelled_tour_counts_from_its_planned_end(now, tour):
    # Cancelled 40 days ago, but the tour would have ended only 10 days ago: not yet.
    recent = tour(now, timedelta(days=10), status="cancelled", cancelled_at=now - timedelta(days=40))
    purge_partner_data(db.session, now=now)
    assert raw_row(recent.id)["partner_first_name"] == recent.told["partner_first_name"]


# --- twice in a row, and the audit log ------------------------------------------------------------------


def test_running_twice_erases_nothing_new_and_logs_counts_not_data(now, tour):
    first_tours = [tour(now, timedelta(days=40)), tour(now, timedelta(days=35), status="cancelled")]
    later = tour(now, timedelta(days=20))
    told = [value for t in first_tours
            for value in (t.partner_first_name, t.partner_last_name, t.partner_email, t.partner_phone)]

    assert purge_partner_data(db.session, now=now) == {"siegen": 2}
    first_erased_at = raw_row(first_tours[0].id)["personal_data_erased_at"]
    assert purge_partner_data(db.session, now=now) == {}
    assert purge_partner_data(db.session, now=now + timedelta(minutes=5)) == {}

    entries = erasures()
    assert len(entries) == 1, "a run that erases nothing writes no entry"
    entry = entries[0]
    assert entry.action == "partner_data_erased"
    assert entry.actor_id is None and entry.actor_label == "system"
    city_id = first_tours[0].city_id
    assert (entry.object_type, entry.object_id, entry.city_id) == ("city", city_id, city_id)
    assert entry.details == {"tours": 2, "messages": 0, "older_than_days": 30}
    dumped = json.dumps(entry.details)
    for value in told:
        assert value not in dumped
    assert NEEDS not in dumped and "Fiona" not in dumped
    # the first run's mark stays
    assert raw_row(first_tours[0].id)["personal_data_erased_at"] == first_erased_at

    # eleven days later the third tour is due, and only it
    assert purge_partner_data(db.session, now=now + timedelta(days=11)) == {"siegen": 1}
    assert raw_row(later.id)["partner_first_name"] is None
    assert [e.details["tours"] for e in erasures()] == [2, 1]


def test_the_daily_jobs_and_the_command_run_the_purge(app, runner, now, tour):
    from tourbook.cli import _daily_purge

    assert _daily_purge in DAILY_JOBS
    old = tour(now, timedelta(days=31))
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "erased: siegen 1"
    assert raw_row(old.id)["partner_first_name"] is None
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0 and result.output.strip() == "erased: nothing due"
    assert old.told["partner_email"] not in result.output


def test_the_worker_loop_runs_the_purge_among_its_daily_jobs(app, now, tour):
    old = tour(now, timedelta(days=31))
    with app.test_request_context(base_url="https://tourbook.example"):
        for job in DAILY_JOBS:
            job(db.session)
    assert raw_row(old.id)["accessibility_needs"] is None


# --- nothing left behind: outbox, partner link, feed ----------------------------------------------------


def test_the_outbox_keeps_nothing_of_an_erased_tour(now, tour):
    old = tour(now, timedelta(days=31))
    recent = tour(now, timedelta(days=3))
    for status in ("sent", "failed", "pending"):
        outbox_for(old, status)
    kept = outbox_for(recent, "sent")

    purge_partner_data(db.session, now=now)

    db.session.expire_all()
    assert db.session.execute(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.tour_id == old.id)
    ).scalar_one() == 0
    assert db.session.get(OutboxMessage, kept.id) is not None
    bodies = db.session.execute(text("SELECT subject, body_text, body_html, recipient FROM outbox")).all()
    for row in bodies:
        assert old.told["partner_first_name"] not in str(row) and old.told["partner_email"] not in str(row)
    assert [e.details for e in erasures()] == [{"tours": 1, "messages": 3, "older_than_days": 30}]


def test_mail_being_sent_during_the_purge_is_removed_by_a_later_run(now, tour):
    old = tour(now, timedelta(days=31))
    in_flight_id = outbox_for(old, "sending").id
    purge_partner_data(db.session, now=now)
    db.session.expire_all()
    assert db.session.get(OutboxMessage, in_flight_id) is not None, "a worker holds it right now"
    # the worker gave up on it (or sent it) meanwhile; the next day's run removes it
    db.session.execute(text("UPDATE outbox SET status = 'failed' WHERE id = :id"), {"id": in_flight_id})
    db.session.commit()
    purge_partner_data(db.session, now=now + timedelta(days=1))
    db.session.expire_all()
    assert db.session.get(OutboxMessage, in_flight_id) is None


def test_the_partner_link_stops_working(client, now, tour):
    old = tour(now, timedelta(days=31))
    token = old.told["token"]
    before = client.get(f"/t/{token}/")
    assert before.status_code == 200
    assert old.told["partner_first_name"] in text_of(before)
    purge_partner_data(db.session, now=now)
    assert client.get(f"/t/{token}/").status_code == 404
    assert client.get(f"/t/{token}/tour.ics").status_code == 404
    feedback = client.post(f"/t/{token}/feedback", data={"feedback-rating": "5"})
    assert feedback.status_code == 404


def guide_feed_path(app, guide) -> str:
    from tourbook.feeds import feed_url

    with app.test_request_context():
        url = feed_url(guide)
    db.session.commit()
    return re.sub(r"^https?://[^/]+", "", url)


def test_the_guides_feed_no_longer_carries_the_erased_data(app, client, now, tour, guide):
    old = tour(now, timedelta(days=31), with_guide=True,
               accessibility_needs="Step-free route, guide dog Bruno")
    path = guide_feed_path(app, guide)
    before = client.get(path)
    assert before.status_code == 200
    assert "guide dog Bruno" in before.get_data(as_text=True).replace("\r\n ", "")
    etag = before.headers["ETag"]

    purge_partner_data(db.session, now=now)

    # a calendar asking "has it changed?" is told yes, and gets the feed without the data
    after = client.get(path, headers={"If-None-Match": etag})
    assert after.status_code == 200, "the feed must change when data is erased from it"
    body = after.get_data(as_text=True).replace("\r\n ", "")
    assert old.uid in body  # the tour stays in the guide's calendar
    assert "Bruno" not in body and "Step-free" not in body and "Accessibility needs" not in body
    assert old.told["partner_first_name"] not in body and old.told["partner_email"] not in body
    fresh = client.get(path)
    assert "Bruno" not in fresh.get_data(as_text=True).replace("\r\n ", "")


def test_the_guides_tour_page_shows_nothing_erased(app, client, now, tour, guide):
    old = tour(now, timedelta(days=31), with_guide=True)
    sign_in(client, guide.email, TEST_PASSWORD)
    before = text_of(client.get(f"/tours/{old.id}"))
    assert NEEDS in before
    purge_partner_data(db.session, now=now)
    after = client.get(f"/tours/{old.id}")
    assert after.status_code == 200
    page = text_of(after)
    assert NEEDS not in page
    assert old.told["partner_last_name"] not in page and old.told["partner_phone"] not in page


# --- reports stay the same ------------------------------------------------------------------------------


def test_reports_give_the_same_numbers_before_and_after(app, now, tour, city):
    tour(now, timedelta(days=31))
    tour(now, timedelta(days=32), status="no_show")
    tour(now, timedelta(days=33), status="cancelled")
    tour(now, timedelta(days=34), partner_language="de", interests="sports", people=5, feedback_rating=2)
    tour(now, timedelta(days=2))
    start, end = date.today() - timedelta(days=60), date.today()

    def export() -> str:
        with app.test_request_context(headers={"Accept-Language": "en"}):
            db.session.expire_all()
            return report_csv(build_report(db.session, [city.id], start, end))

    before = export()
    assert "Key figures,tours held,3" in before and "Key figures,cancelled,1" in before
    assert purge_partner_data(db.session, now=now) == {"siegen": 4}
    assert export() == before
