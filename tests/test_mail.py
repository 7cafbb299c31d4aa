"""Mail through a real SMTP server (aiosmtpd on a free local port, started and stopped by the tests): who is
told of a booking, a change and a cancellation, in which language, with which calendar invitation; and the
outbox, which delays mail while the server is down but never loses or doubles it."""

from __future__ import annotations

import email
import email.policy
import re
import socket
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from factories_tours import (  # noqa: F401 - fixtures
    BERLIN,
    OUTSIDE_REQUEST_CONFIG,
    book_fixture,
    bookable_day,
    local,
    make_guide_fixture,
    make_tour_fixture,
)
from helpers_foundation import fresh_request_globals, text_of  # noqa: F401 - fixture
from ical_parsers import ical_js_calendar, libical_errors, libical_events
from sqlalchemy import select, update

from tourbook.extensions import db
from tourbook.mail import (
    MAX_ATTEMPTS,
    OutgoingMail,
    SMTPSettings,
    SMTPTransport,
    queue_reminders,
    retry_message,
    send_due,
    transport_from_config,
)
from tourbook.models import OutboxMessage, Role, Tour, User, utcnow
from tourbook.services import TourError, cancel_tour, reschedule_tour

PUBLIC = OUTSIDE_REQUEST_CONFIG["PUBLIC_URL"]
DOMAIN = "tourbook.example"
PARTNER_EMAIL = "alex.partner@partner.example"


# --- the SMTP server -----------------------------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts, once per recipient; addresses in
    ``refuse`` are refused for good (550)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, EmailMessage]] = []
        self.refuse: set[str] = set()
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001, ANN201
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.received.extend((rcpt, message) for rcpt in envelope.rcpt_tos)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.received if rcpt == address]

    def one_to(self, address: str, subject_start: str = "") -> EmailMessage:
        found = [m for m in self.to(address) if m["Subject"].startswith(subject_start)]
        assert len(found) == 1, [m["Subject"] for m in self.to(address)]
        return found[0]

    def deliveries(self) -> Counter:
        """How often each message reached each recipient, by Message-ID."""
        return Counter((rcpt, m["Message-ID"]) for rcpt, m in self.received)


class SMTPServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.inbox = Inbox()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port,
                                     server_hostname="localhost")
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def app_config(smtp_port: int) -> dict:
    return {**OUTSIDE_REQUEST_CONFIG, "MAIL_URL": f"smtp://127.0.0.1:{smtp_port}?timeout=5",
            "MAIL_FROM_ADDRESS": "tourbook@tourbook.example"}


@pytest.fixture
def smtp(smtp_port: int):  # noqa: ANN201
    server = SMTPServer(smtp_port)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def city(make_city):  # noqa: ANN001, ANN201
    return make_city(timezone="Europe/Berlin", office_email="tours@siegen.example",
                     office_phone="+49 271 404-1234")


@pytest.fixture
def guide(make_guide, city):  # noqa: ANN001, ANN201
    return make_guide(city, language="en")


# --- helpers -------------------------------------------------------------------------------------------


def outbox(**where: object) -> list[OutboxMessage]:
    db.session.expire_all()
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    for name, value in where.items():
        query = query.where(getattr(OutboxMessage, name) == value)
    return list(db.session.execute(query).scalars())


def calendar_parts(message: EmailMessage) -> list[EmailMessage]:
    return [p for p in message.walk() if p.get_content_type() in ("text/calendar", "application/ics")]


def text_body(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def html_body(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()


def invitation(message: EmailMessage, method: str) -> str:
    """The iTIP part: text/calendar with the method, whose ics says the same method; the attached copy
    is the same calendar."""
    inline = [p for p in calendar_parts(message) if p.get_content_type() == "text/calendar"]
    assert len(inline) == 1
    part = inline[0]
    assert part.get_param("method") == method
    assert part.get_content_charset() == "utf-8"
    ics = part.get_content()
    assert f"\r\nMETHOD:{method}\r\n" in ics
    attached = [p for p in calendar_parts(message) if p.get_content_disposition() == "attachment"]
    assert len(attached) == 1
    assert attached[0].get_content().decode() == ics
    return ics


def check_invitation(ics: str, tour: Tour, method: str, attendee: str, office: str) -> None:
    assert libical_errors(ics) == [], ics
    unfolded = ics.replace("\r\n ", "")
    assert f"ORGANIZER:mailto:{office}" in unfolded
    assert re.search(rf"ATTENDEE[^:\r\n]*:mailto:{re.escape(attendee)}\r\n", unfolded)
    calendar = ical_js_calendar(ics)
    assert calendar["method"] == method
    for events in (libical_events(ics), calendar["events"]):
        (event,) = events
        assert event.uid == f"{tour.uid}@{DOMAIN}"
        assert event.sequence == tour.sequence
        assert (event.start, event.end) == (tour.starts_at, tour.ends_at)
        assert event.status == ("CANCELLED" if method == "CANCEL" else "CONFIRMED")


def book_with_partner(book, city, days: int = 10, language: str = "en", **partner):  # noqa: ANN001, ANN003, ANN201
    partner.setdefault("email", PARTNER_EMAIL)
    partner.setdefault("first_name", "Alex")
    return book(city, local(bookable_day(days=days), 10), language=language, now=utcnow(), **partner)


# --- who is told, how ----------------------------------------------------------------------------------


def test_booking_mails_partner_hr_and_guide_in_their_language_with_invitations_for_partner_and_hr(
        app, smtp, city, guide, book):
    tour = book_with_partner(book, city)
    hr = tour.booked_by
    assert {m.kind for m in outbox(status="pending")} == {"partner_booked", "hr_booked", "guide_assigned"}

    assert send_due(db.session) == {"sent": 3, "retry": 0, "failed": 0}
    inbox = smtp.inbox
    assert len(inbox.received) == 3

    partner = inbox.one_to(PARTNER_EMAIL, f"Your tour of {city.name} on ")
    text = text_body(partner)
    assert text.startswith("Hello Alex,")
    assert f"a guide of the city shows you {city.name}" in text
    assert f"{PUBLIC}/t/{tour.token}/" in text
    assert city.office_phone in text and city.office_email in text  # the city's contact in the footer
    assert '<html lang="en">' in html_body(partner)
    assert f'href="{PUBLIC}/t/{tour.token}/"' in html_body(partner)
    check_invitation(invitation(partner, "REQUEST"), tour, "REQUEST", PARTNER_EMAIL, city.office_email)

    to_hr = inbox.one_to(hr.email, "Tour booked: ")
    assert "The tour for Alex is booked." in text_body(to_hr)
    assert '<html lang="en">' in html_body(to_hr)
    check_invitation(invitation(to_hr, "REQUEST"), tour, "REQUEST", hr.email, city.office_email)

    to_guide = inbox.one_to(guide.email, "New tour for you: ")
    assert "You have a new tour." in text_body(to_guide)
    assert f"{PUBLIC}/tours/{tour.id}" in text_body(to_guide)
    assert calendar_parts(to_guide) == []  # the guide's calendar has it through the feed
    assert "Alex" not in text_body(to_guide)

    for message in (partner, to_hr, to_guide):
        assert message["From"] == "Tourbook <tourbook@tourbook.example>"
        assert message["Message-ID"].endswith("@tourbook.example>")
        assert {p.get_content_type() for p in message.walk()} >= {"text/plain", "text/html"}


def test_each_recipient_gets_their_own_language_and_no_partner_mail_without_an_address(
        app, smtp, city, make_guide, book, make_user):
    make_guide(city, language="de")
    german_partner = book_with_partner(book, city, language="de", email="partnerin@partner.example")
    hr_de = make_user(Role.HR, language="de", company=german_partner.company)
    make_guide(city, language="en")
    without_email = book(city, local(bookable_day(days=10), 10), actor=hr_de, language="en", now=utcnow(),
                         first_name="Kim")
    send_due(db.session)
    inbox = smtp.inbox

    assert '<html lang="de">' in html_body(inbox.to("partnerin@partner.example")[0])
    assert "METHOD:REQUEST" in invitation(inbox.to("partnerin@partner.example")[0], "REQUEST")
    german_hr = [m for m in inbox.to(hr_de.email)]
    assert len(german_hr) == 1 and '<html lang="de">' in html_body(german_hr[0])
    for guide_id in {t.guide_id for t in (german_partner, without_email)}:
        guide = db.session.get(User, guide_id)
        (message,) = inbox.to(guide.email)
        assert f'<html lang="{guide.language}">' in html_body(message)
    kinds = {m.kind for m in outbox(tour_id=without_email.id)}
    assert kinds == {"hr_booked", "guide_assigned"}  # no partner mail without an address


def test_change_and_cancellation_send_request_then_cancel_with_the_tours_sequence(app, smtp, city, guide,
                                                                                  book):
    tour = book_with_partner(book, city)
    hr = tour.booked_by
    send_due(db.session)
    day = bookable_day(days=14)
    reschedule_tour(db.session, hr, tour, local(day, 13), local(day, 15))
    assert tour.sequence == 1
    send_due(db.session)
    inbox = smtp.inbox

    changed = inbox.one_to(PARTNER_EMAIL, f"Your tour of {city.name} has a new time: ")
    assert "your tour of" in text_body(changed) and "has a new time" in text_body(changed)
    check_invitation(invitation(changed, "REQUEST"), tour, "REQUEST", PARTNER_EMAIL, city.office_email)
    to_hr = inbox.one_to(hr.email, "Tour changed: ")
    check_invitation(invitation(to_hr, "REQUEST"), tour, "REQUEST", hr.email, city.office_email)
    assert calendar_parts(inbox.one_to(guide.email, "Tour changed: ")) == []

    cancel_tour(db.session, hr, tour, "hr", "The interview moved online")
    assert tour.sequence == 2
    send_due(db.session)
    cancelled = inbox.one_to(PARTNER_EMAIL, f"Your tour of {city.name} is cancelled")
    assert "is cancelled" in text_body(cancelled)
    ics = invitation(cancelled, "CANCEL")
    check_invitation(ics, tour, "CANCEL", PARTNER_EMAIL, city.office_email)
    to_hr = inbox.one_to(hr.email, "Tour cancelled: ")
    check_invitation(invitation(to_hr, "CANCEL"), tour, "CANCEL", hr.email, city.office_email)
    assert calendar_parts(inbox.one_to(guide.email, "Tour cancelled: ")) == []
    assert len(inbox.received) == 9
    assert max(inbox.deliveries().values()) == 1


def test_a_message_tells_the_tour_as_it_was_at_its_change_even_when_the_worker_comes_later(app, smtp, city,
                                                                                          guide, book):
    """The worker writes the messages; a booking changed before it ran still gets its own messages right."""
    tour = book_with_partner(book, city)
    booked_start, booked_sequence = tour.starts_at, tour.sequence
    day = bookable_day(days=14)
    reschedule_tour(db.session, tour.booked_by, tour, local(day, 13), local(day, 15))
    assert send_due(db.session)["sent"] == 6
    inbox = smtp.inbox

    booked = inbox.one_to(PARTNER_EMAIL, f"Your tour of {city.name} on ")
    changed = inbox.one_to(PARTNER_EMAIL, f"Your tour of {city.name} has a new time: ")
    booked_invitation = libical_events(invitation(booked, "REQUEST"))[0]
    changed_invitation = libical_events(invitation(changed, "REQUEST"))[0]
    assert (booked_invitation.start, booked_invitation.sequence) == (booked_start, booked_sequence)
    assert (changed_invitation.start, changed_invitation.sequence) == (tour.starts_at, tour.sequence)
    assert booked_invitation.uid == changed_invitation.uid


def test_the_worker_writes_a_message_once_and_keeps_what_it_wrote(app, smtp, city, guide, book):
    tour = book_with_partner(book, city)
    (row,) = outbox(kind="partner_booked")
    assert row.snapshot is not None and row.body_text == ""  # nothing written inside the booking
    smtp.inbox.refuse.add(PARTNER_EMAIL)
    assert send_due(db.session)["failed"] == 1  # written, then refused
    db.session.refresh(row)
    assert row.status == "failed" and row.snapshot is None
    assert "Hello Alex," in row.body_text and "METHOD:REQUEST" in row.ics
    written = (row.body_text, row.body_html, row.ics)
    cancel_tour(db.session, tour.booked_by, tour, "hr", "moved online")  # the tour changes meanwhile
    smtp.inbox.refuse.clear()
    retry_message(db.session, row)
    db.session.commit()
    send_due(db.session)
    db.session.refresh(row)
    assert row.status == "sent" and (row.body_text, row.body_html, row.ics) == written
    booked = smtp.inbox.one_to(PARTNER_EMAIL, f"Your tour of {city.name} on ")
    assert "Hello Alex," in text_body(booked) and "METHOD:REQUEST" in invitation(booked, "REQUEST")


# --- the outbox ----------------------------------------------------------------------------------------


class StopsTheServerAfter(SMTPTransport):
    """The real transport; after ``count`` messages the SMTP server goes down mid-run."""

    def __init__(self, server: SMTPServer, count: int) -> None:
        super().__init__(SMTPSettings.from_url(f"smtp://127.0.0.1:{server.port}?timeout=5"))
        self.server, self.count, self.sent = server, count, 0

    def send(self, mail: OutgoingMail) -> None:
        super().send(mail)
        self.sent += 1
        if self.sent == self.count:
            self.server.stop()


def test_an_smtp_outage_delays_mail_and_every_message_arrives_exactly_once(app, smtp, city, make_guide, book):
    for _ in range(3):
        make_guide(city, language="en")
    tours = [book_with_partner(book, city, email=f"p{n}@partner.example") for n in range(3)]
    assert len(outbox(status="pending")) == 9

    # The server goes away after three messages of the run.
    stats = send_due(db.session, transport=StopsTheServerAfter(smtp, 3))
    assert stats["sent"] == 3 and stats["failed"] == 0
    assert len(smtp.inbox.received) == 3
    waiting = outbox(status="pending")
    assert len(waiting) == 6
    assert not outbox(status="sending") and not outbox(status="failed")

    # The next run finds it down: nothing is lost, everything waits for later.
    stats = send_due(db.session, now=utcnow() + timedelta(hours=1))
    assert stats == {"sent": 0, "retry": 6, "failed": 0}
    later = utcnow()
    for row in outbox(status="pending"):
        assert row.next_attempt_at > later
        assert row.last_error and "mail server" in row.last_error
    assert send_due(db.session) == {"sent": 0, "retry": 0, "failed": 0}  # not due yet: no hammering

    # Booking while the server is down works, and its mail waits in the outbox too.
    make_guide(city, language="en")
    during = book_with_partner(book, city, email="during@partner.example")
    assert during.status == "confirmed"
    assert len(outbox(status="pending")) == 9

    # The server is back on the same port; time moves on past every back-off.
    smtp.start()
    for _ in range(3):
        send_due(db.session, now=utcnow() + timedelta(hours=2))
    assert len(outbox(status="sent")) == 12
    assert not outbox(status="pending") and not outbox(status="failed")
    deliveries = smtp.inbox.deliveries()
    assert len(deliveries) == 12 and set(deliveries.values()) == {1}
    expected = {(row.recipient, f"<{row.dedupe_key[:40]}@{DOMAIN}>") for row in outbox()}
    assert set(deliveries) == expected
    for tour in [*tours, during]:
        assert len(smtp.inbox.to(tour.partner_email)) == 1


def test_a_long_outage_never_marks_messages_failed(app, smtp, city, guide, book):
    book_with_partner(book, city)
    smtp.stop()
    now = utcnow()
    for _ in range(MAX_ATTEMPTS + 3):
        now += timedelta(hours=2)
        send_due(db.session, now=now)
    rows = outbox()
    assert {r.status for r in rows} == {"pending"}
    assert all(r.attempts > MAX_ATTEMPTS for r in rows)
    assert all(r.next_attempt_at - now <= timedelta(hours=1) for r in rows)  # the back-off has a ceiling
    smtp.start()
    send_due(db.session, now=now + timedelta(hours=2))
    assert {r.status for r in outbox()} == {"sent"}
    assert len(smtp.inbox.received) == 3


def test_a_message_left_sending_by_a_crashed_worker_is_not_resent_but_shown_and_retried_by_hand(
        app, smtp, client, login, city, guide, book, make_user):
    book_with_partner(book, city)
    crashed = outbox(kind="partner_booked")[0]
    in_flight = outbox(kind="hr_booked")[0]
    now = utcnow()
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == crashed.id)
                       .values(status="sending", claimed_at=now - timedelta(hours=1), attempts=1))
    # Another worker is sending this one right now: it is left alone.
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == in_flight.id)
                       .values(status="sending", claimed_at=now - timedelta(seconds=20), attempts=1))
    db.session.commit()

    assert send_due(db.session)["sent"] == 1  # only the guide's
    assert smtp.inbox.to(PARTNER_EMAIL) == []
    row = outbox(id=crashed.id)[0]
    assert row.status == "failed" and "stopped while sending" in row.last_error
    assert outbox(id=in_flight.id)[0].status == "sending"

    coordinator = make_user(Role.COORDINATOR, city=city, language="en")
    login(coordinator)
    page = client.get(f"/c/{city.slug}/messages/")
    assert page.status_code == 200
    shown = text_of(page)
    # The worker stopped before it wrote the message: the page writes its subject, in the partner's language.
    assert row.subject == "" and re.search(r"Your tour of .+ on ", shown)
    assert PARTNER_EMAIL in shown and "failed: 1" in shown
    assert f"/c/{city.slug}/messages/{row.id}/retry" in page.get_data(as_text=True)

    response = client.post(f"/c/{city.slug}/messages/{row.id}/retry")
    assert response.status_code in (302, 303)
    assert outbox(id=crashed.id)[0].status == "pending"
    assert PARTNER_EMAIL not in text_of(client.get(f"/c/{city.slug}/messages/"))
    send_due(db.session)
    assert len(smtp.inbox.to(PARTNER_EMAIL)) == 1
    send_due(db.session, now=utcnow() + timedelta(hours=3))
    assert len(smtp.inbox.to(PARTNER_EMAIL)) == 1


def test_messages_page_and_retry_are_the_citys_coordinators_only(app, client, login, city, guide, book,
                                                                 make_user, make_city):
    book_with_partner(book, city)
    row = outbox(kind="partner_booked")[0]
    row.status = "failed"
    db.session.commit()
    other = make_user(Role.COORDINATOR, city=make_city(), language="en")
    login(other)
    assert client.get(f"/c/{city.slug}/messages/").status_code == 404
    assert client.post(f"/c/{city.slug}/messages/{row.id}/retry").status_code == 404
    assert outbox(id=row.id)[0].status == "failed"
    client.post("/logout")
    login(make_user(Role.HR, language="en"))
    assert client.get(f"/c/{city.slug}/messages/").status_code == 403


def test_a_refused_recipient_fails_at_once_and_can_be_sent_again(app, smtp, client, login, city, guide, book,
                                                                make_user):
    smtp.inbox.refuse.add(PARTNER_EMAIL)
    book_with_partner(book, city)
    assert send_due(db.session) == {"sent": 2, "retry": 0, "failed": 1}
    (failed,) = outbox(status="failed")
    assert failed.recipient == PARTNER_EMAIL and "550" in failed.last_error

    smtp.inbox.refuse.clear()
    login(make_user(Role.COORDINATOR, city=city, language="en"))
    assert PARTNER_EMAIL in text_of(client.get(f"/c/{city.slug}/messages/"))
    client.post(f"/c/{city.slug}/messages/{failed.id}/retry")
    assert send_due(db.session)["sent"] == 1
    assert len(smtp.inbox.to(PARTNER_EMAIL)) == 1


# --- reminders, account mail, the command -----------------------------------------------------------------


def test_reminders_are_queued_once_for_the_tours_of_the_next_local_day(app, smtp, city, guide, make_tour):
    # 23:30 in Siegen on the day before daylight saving time starts (22:30 UTC).
    now = datetime(2026, 3, 28, 22, 30, tzinfo=UTC)
    partner = {"partner_email": "tomorrow@partner.example", "partner_language": "en",
               "partner_first_name": "Robin", "meeting_point": "Hauptbahnhof"}
    tomorrow = [make_tour(guide, datetime(2026, 3, 29, 10, 0, tzinfo=BERLIN), **partner),
                make_tour(guide, datetime(2026, 3, 29, 23, 0, tzinfo=BERLIN), 45, **partner)]
    # The 30th in Siegen, though still the 29th in UTC: not tomorrow.
    make_tour(guide, datetime(2026, 3, 30, 0, 30, tzinfo=BERLIN), 60, **partner)
    make_tour(guide, datetime(2026, 3, 29, 15, 0, tzinfo=BERLIN), status="cancelled", **partner)
    make_tour(guide, datetime(2026, 3, 29, 17, 0, tzinfo=BERLIN), partner_first_name="Noemail")

    assert queue_reminders(db.session, now=now) == 2
    assert queue_reminders(db.session, now=now) == 0
    assert queue_reminders(db.session, now=now + timedelta(minutes=20)) == 0
    reminders = outbox(kind="partner_reminder")
    assert sorted(r.tour_id for r in reminders) == sorted(t.id for t in tomorrow)

    send_due(db.session)
    received = smtp.inbox.to("tomorrow@partner.example")
    assert len(received) == 2
    for message in received:
        assert message["Subject"] == f"Tomorrow: your tour of {city.name}"
        assert "Hello Robin," in text_body(message)
        assert calendar_parts(message) == []


def test_invitation_and_reset_links_are_mailed_and_work(app, smtp, client, login, city, make_user):
    coordinator = make_user(Role.COORDINATOR, city=city, language="en")
    login(coordinator)
    created = client.post(f"/c/{city.slug}/guides/new",
                          data={"name": "Nina Neu", "email": "nina.neu@example.org", "language": "en"})
    assert created.status_code == 200
    client.post("/logout")
    hr = make_user(Role.HR, language="en")
    assert client.post("/password/forgot", data={"email": hr.email}).status_code == 200
    assert client.post("/password/forgot", data={"email": "nobody@example.org"}).status_code == 200
    assert {(m.kind, m.recipient) for m in outbox()} == {
        ("account_invite", "nina.neu@example.org"), ("account_reset", hr.email)}

    send_due(db.session)
    invite = smtp.inbox.one_to("nina.neu@example.org", "Your Tourbook account")
    reset = smtp.inbox.one_to(hr.email, "A new password for Tourbook")
    assert smtp.inbox.to("nobody@example.org") == []
    assert "Hello Nina Neu," in text_body(invite)
    assert "an account for Tourbook was created" in text_body(invite)
    assert "you asked for a new password" in text_body(reset)
    for message in (invite, reset):
        (link,) = re.findall(rf"{re.escape(PUBLIC)}/password/set/\S+", text_body(message))
        assert f'href="{link}"' in html_body(message)
        assert calendar_parts(message) == []
        page = app.test_client().get(link.removeprefix(PUBLIC))
        assert page.status_code == 200, link


def test_outbox_send_command_sends_through_the_configured_server(app, smtp, runner, city, guide, book):
    book_with_partner(book, city)
    assert transport_from_config().settings.port == smtp.port
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert {m.status for m in outbox()} == {"sent"}
    assert len(smtp.inbox.received) == 3
    again = runner.invoke(args=["outbox", "send"])
    assert again.exit_code == 0
    assert len(smtp.inbox.received) == 3


def test_mail_url_is_read_with_credentials_and_starttls():
    settings = SMTPSettings.from_url("smtp://mailer%40city.example:p%40ss@mail.example:587?starttls=1")
    assert (settings.host, settings.port, settings.username, settings.password, settings.starttls,
            settings.ssl) == ("mail.example", 587, "mailer@city.example", "p@ss", True, False)
    assert SMTPSettings.from_url("smtps://mail.example").port == 465
    with pytest.raises(ValueError):
        SMTPSettings.from_url("http://mail.example")


def test_without_a_mail_url_mail_goes_to_the_log(app, city, guide, book, caplog):
    app.config["MAIL_URL"] = None
    book_with_partner(book, city)
    with caplog.at_level("INFO", logger="tourbook.mail"):
        assert send_due(db.session)["sent"] == 3
    assert any(PARTNER_EMAIL in r.getMessage() for r in caplog.records)


def test_outbox_rows_are_committed_with_the_booking_and_not_without_it(app, city, guide, book):
    day = bookable_day(days=10)
    booked = book(city, local(day, 10), now=utcnow(), first_name="A", email="a@partner.example")
    with pytest.raises(TourError):  # the only guide is taken
        book(city, local(day, 10), now=utcnow(), first_name="B", email="b@partner.example")
    with db.engine.connect() as other:  # what another connection (the worker's) sees: committed rows only
        rows = other.execute(select(OutboxMessage.recipient, OutboxMessage.tour_id)).all()
    expected = ["a@partner.example", booked.booked_by.email, guide.email]
    assert sorted(r.recipient for r in rows) == sorted(expected)
    assert {r.tour_id for r in rows} == {booked.id}
