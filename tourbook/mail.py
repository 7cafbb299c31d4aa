"""Email: messages are written to the outbox in the same transaction as the change that causes them, and a
worker sends them with retries. A mail server that is down delays mail; it never loses it, never blocks a
booking, and a crashed worker never sends the same message twice."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import smtplib
import ssl
import time as clock
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr
from functools import cache
from types import SimpleNamespace
from urllib.parse import parse_qs, unquote, urlparse
from zoneinfo import ZoneInfo

from flask import current_app, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from .calendars import render_calendar
from .i18n import fmt_datetime
from .models import City, Company, OutboxMessage, Role, Tour, User, utcnow

log = logging.getLogger("tourbook.mail")

MAX_ATTEMPTS = 12
STUCK_AFTER = timedelta(minutes=10)


# --- building messages ----------------------------------------------------------------------------


def external_url(endpoint: str, **values: object) -> str:
    """An absolute URL on the public address (PUBLIC_URL), else on the request's host."""
    base = current_app.config.get("PUBLIC_URL")
    if base:
        # Outside a request url_for makes absolute URLs unless told not to (workers, services in tests).
        return base.rstrip("/") + url_for(endpoint, _external=False, **values)
    return url_for(endpoint, _external=True, **values)


def _queue(session: Session, *, key: str, kind: str, recipient: str, language: str, subject: str,
           template: str, context: dict, city: City | None, tour: Tour | None = None,
           ics_method: str | None = None) -> None:
    """Render in the recipient's language and add to the outbox (inside the caller's transaction)."""
    with force_locale(language):
        context = {**context, "city": city, "tour": tour}
        text = render_template(f"mail/{template}.txt", **context)
        html = render_template(f"mail/{template}.html", **context, subject=subject)
        ics = None
        if ics_method and tour is not None:
            from .feeds import calendar_domain, tour_calendar_event

            ics = render_calendar(
                [tour_calendar_event(tour, with_link=False)], calendar_domain(), method=ics_method,
                organizer=city.office_email or current_app.config["MAIL_FROM_ADDRESS"], attendee=recipient,
            ).decode()
    digest = hashlib.sha256(key.encode()).hexdigest()
    exists = session.execute(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == digest)).first()
    if exists:
        return
    session.add(OutboxMessage(
        dedupe_key=digest, kind=kind, recipient=recipient, subject=subject, body_text=text, body_html=html,
        ics=ics, ics_method=ics_method, tour_id=tour.id if tour else None, city_id=city.id if city else None,
        status="pending", next_attempt_at=utcnow(),
    ))


TOUR_EVENTS = ("booked", "changed", "cancelled", "needs_guide", "reassigned")


def _subject(event: str, audience: str, tour: Tour, city: City) -> str:
    # In the recipient's locale (force_locale); plain spaces, which every mail client shows in a subject.
    from .main import language_label

    when = fmt_datetime(tour.starts_at, city.timezone, "short").replace("\u202f", " ")
    subjects = {
        ("booked", "partner"): lambda: _("Your tour of %(city)s on %(when)s", city=city.name, when=when),
        ("booked", "hr"): lambda: _("Tour booked: %(when)s", when=when),
        ("assigned", "guide"): lambda: _("New tour for you: %(when)s", when=when),
        ("changed", "partner"): lambda: _("Your tour of %(city)s has a new time: %(when)s", city=city.name,
                                          when=when),
        ("changed", "hr"): lambda: _("Tour changed: %(when)s", when=when),
        ("changed", "guide"): lambda: _("Tour changed: %(when)s", when=when),
        ("cancelled", "partner"): lambda: _("Your tour of %(city)s is cancelled", city=city.name),
        ("cancelled", "hr"): lambda: _("Tour cancelled: %(when)s", when=when),
        ("cancelled", "guide"): lambda: _("Tour cancelled: %(when)s", when=when),
        ("needs_guide", "hr"): lambda: _("A new guide is being found for the tour on %(when)s", when=when),
        ("needs_guide", "coordinator"): lambda: _("Tour on %(when)s needs a guide", when=when),
        ("needs_guide", "guide"): lambda: _("Tour on %(when)s no longer with you", when=when),
        ("released", "guide"): lambda: _("Tour on %(when)s no longer with you", when=when),
        ("reminder", "partner"): lambda: _("Tomorrow: your tour of %(city)s", city=city.name),
        ("language", "guide"): lambda: _("Partner asks for %(language)s: tour on %(when)s",
                                         language=language_label(tour.partner_language), when=when),
    }
    subjects[("language_spoken", "guide")] = subjects[("language", "guide")]
    return subjects[(event, audience)]()


def queue_tour_messages(session: Session, tour: Tour, event: str,
                        previous_guide_id: int | None = None, actor_id: int | None = None) -> None:
    """Who hears of a change, in their language. Partner and HR messages carry an iTIP invitation; guides
    get theirs through their calendar feed, so their mails carry none.

    The messages are written to the outbox with the change (one statement), each with a snapshot of the
    tour as it is now; the worker writes subject, text, HTML and invitation from it (render_message), outside
    the request: a booking does not wait for templates or the recipients' languages, and a message tells
    what the tour was at its change even when it changes again before the mail goes out."""
    city = session.get(City, tour.city_id)
    method = "CANCEL" if event == "cancelled" else "REQUEST"
    base_key = f"tour:{tour.id}:{tour.sequence}:{event}"
    snapshot = _tour_snapshot(session, tour, event)
    rows: list[dict] = []

    def add(key: str, kind: str, person_email: str, language: str, audience: str, subject_event: str,
            template: str, ics_method: str | None, **extra: str) -> None:
        rows.append(_snapshot_row(
            key=key, kind=kind, recipient=person_email, language=language, template=template, subject="",
            snapshot={**snapshot, **extra, "subject": [subject_event, audience]}, city=city, tour_id=tour.id,
            ics_method=ics_method,
        ))

    if tour.partner_email and event in ("booked", "changed", "cancelled", "reminder"):
        add(f"{base_key}:partner:{tour.partner_email}", f"partner_{event}", tour.partner_email,
            tour.partner_language, "partner", event, f"partner_{event}", None if event == "reminder" else method)
    hr = session.get(User, tour.booked_by_id) if tour.booked_by_id else None
    if hr is not None and hr.active and event in ("booked", "changed", "cancelled", "needs_guide"):
        add(f"{base_key}:hr:{hr.email}", f"hr_{event}", hr.email, hr.language, "hr", event, "hr_tour",
            method if event in ("booked", "changed", "cancelled") else None)
    guide = session.get(User, tour.guide_id) if tour.guide_id else None
    new_guide = previous_guide_id is not None and guide is not None and guide.id != previous_guide_id
    guide_event = {
        "booked": "assigned", "reassigned": "assigned", "cancelled": "cancelled",
        "changed": "assigned" if new_guide else "changed", "language": "language",
        "language_spoken": "language_spoken",
    }.get(event)
    if guide is not None and guide.active and guide_event:
        add(f"{base_key}:guide:{guide.email}", f"guide_{guide_event}", guide.email, guide.language, "guide",
            guide_event, "guide_tour", None, event=guide_event)
    if previous_guide_id and (guide is None or guide.id != previous_guide_id):
        previous = session.get(User, previous_guide_id)
        if previous is not None and previous.active:
            gone = "needs_guide" if tour.status == "needs_guide" else "released"
            add(f"{base_key}:released:{previous.email}", f"guide_{gone}", previous.email, previous.language,
                "guide", gone, "guide_tour", None, event="released")
    if event == "needs_guide":  # the city office finds a guide: its coordinators hear of it at once
        for coordinator in session.execute(select(User).where(
                User.city_id == tour.city_id, User.role == Role.COORDINATOR, User.active.is_(True),
                User.id != (actor_id or 0))).scalars():  # not who caused it (an absence they entered, say)
            add(f"{base_key}:coordinator:{coordinator.email}", "coordinator_needs_guide", coordinator.email,
                coordinator.language, "coordinator", event, "coordinator_tour", None)
    if rows:
        # One statement text for any number of rows (executemany; psycopg sends them in one pipeline), compiled
        # once: a VALUES list built per call was compiled again on every booking.
        session.execute(_INSERT_NEW(session.get_bind().dialect.name), rows)


@cache
def _INSERT_NEW(dialect: str):  # noqa: ANN202, N802 - a constant per dialect
    """INSERT … ON CONFLICT (dedupe_key) DO NOTHING: the same change never queues a message twice."""
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    return insert(OutboxMessage.__table__).on_conflict_do_nothing(index_elements=["dedupe_key"])


def _tour_snapshot(session: Session, tour: Tour, event: str) -> dict:
    """What the messages of a change say about the tour (and the links and the host of its calendar UID,
    which the worker could not know the same way)."""
    from .feeds import calendar_domain

    session.flush()  # the tour's id and the values the change set
    company = session.get(Company, tour.company_id)
    return {
        "event": event,
        "partner_link": external_url("partner.page", token=tour.token) if tour.token else None,
        "tour_link": external_url("tours.show", tour_id=tour.id),
        "domain": calendar_domain(),
        "tour": {
            "id": tour.id, "uid": tour.uid, "sequence": tour.sequence, "status": tour.status,
            "starts_at": tour.starts_at.isoformat(), "ends_at": tour.ends_at.isoformat(),
            "updated_at": tour.updated_at.isoformat(), "meeting_point": tour.meeting_point,
            "meeting_place": tour.meeting_place, "partner_first_name": tour.partner_first_name,
            "partner_language": tour.partner_language,
            "people": tour.people, "interests": tour.interests, "accessibility_needs": tour.accessibility_needs,
            "company_name": company.name if company else "",
        },
    }


def _snapshot_row(*, key: str, kind: str, recipient: str, language: str, template: str, subject: str,
                  snapshot: dict, city: City, tour_id: int, ics_method: str | None) -> dict:
    now = utcnow()
    return {
        "dedupe_key": hashlib.sha256(key.encode()).hexdigest(), "kind": kind, "recipient": recipient,
        "subject": subject, "body_text": "", "body_html": "", "ics": None, "ics_method": ics_method,
        "template": template, "language": language, "snapshot": json.dumps(snapshot, ensure_ascii=False),
        "tour_id": tour_id, "city_id": city.id, "status": "pending", "attempts": 0, "next_attempt_at": now,
        "created_at": now,
    }


def render_message(session: Session, row: OutboxMessage) -> None:
    """Write a tour's message from its snapshot (in the worker, before it goes out; the caller commits):
    subject, text, HTML and the invitation, in the reader's language. Rows written at queueing stay as they are."""
    if row.snapshot is None:
        return
    snap, tour, city = _from_snapshot(session, row)
    context = {"partner_link": snap.get("partner_link"), "tour_link": snap.get("tour_link"),
               "event": snap["event"], "city": city, "tour": tour}
    with force_locale(row.language or "de"):
        if "subject" in snap:  # rows queued before the worker wrote subjects carry theirs
            row.subject = _subject(*snap["subject"], tour, city)
        row.body_text = render_template(f"mail/{row.template}.txt", **context)
        row.body_html = render_template(f"mail/{row.template}.html", **context, subject=row.subject)
        if row.ics_method:
            from .feeds import partner_calendar_event, tour_calendar_event

            organizer = (city.office_email if city else "") or current_app.config["MAIL_FROM_ADDRESS"]
            event = (partner_calendar_event(tour, snap.get("partner_link"), city)
                     if row.kind.startswith("partner_") else tour_calendar_event(tour, with_link=False))
            row.ics = render_calendar(
                [event], snap["domain"], method=row.ics_method,
                organizer=organizer, attendee=row.recipient,
            ).decode()
    row.snapshot = None


def _from_snapshot(session: Session, row: OutboxMessage) -> tuple[dict, SimpleNamespace, City | None]:
    snap = json.loads(row.snapshot)
    data = snap["tour"]
    tour = SimpleNamespace(
        **{k: v for k, v in data.items() if k not in ("starts_at", "ends_at", "updated_at", "company_name")},
        starts_at=datetime.fromisoformat(data["starts_at"]), ends_at=datetime.fromisoformat(data["ends_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]), company=SimpleNamespace(name=data["company_name"]),
    )
    city = session.get(City, row.city_id) if row.city_id else None
    tour.city = city  # the meeting point is named with the city's name
    return snap, tour, city


def subject_of(session: Session, row: OutboxMessage) -> str:
    """The subject a message has or will have: one the worker has not written yet (it stopped, or could not
    write the text) is written from the snapshot, in the recipient's language, for the Mail page."""
    if row.subject or row.snapshot is None:
        return row.subject
    try:
        snap, tour, city = _from_snapshot(session, row)
        with force_locale(row.language or "de"):
            return _subject(*snap["subject"], tour, city) if "subject" in snap and city else ""
    except (KeyError, TypeError, ValueError):
        return ""


def queue_password_link(session: Session, user: User, link: str, purpose: str) -> None:
    """Invitation and reset links by mail (coordinators still see the link as a fallback)."""
    city = user.city or (user.company.cities[0] if user.company and user.company.cities else None)
    with force_locale(user.language):
        subject = _("Your Tourbook account") if purpose == "invite" else _("A new password for Tourbook")
    _queue(session, key=f"password:{user.id}:{hashlib.sha256(link.encode()).hexdigest()}",
           kind=f"account_{purpose}", recipient=user.email, language=user.language, subject=subject,
           template="account_link", context={"link": link, "purpose": purpose, "person": user}, city=city)


def queue_reminders(session: Session, now: datetime | None = None) -> int:
    """Reminders for tours that start tomorrow (local date of their city); never twice for one tour."""
    now = now or utcnow()
    count = 0
    tours = session.execute(
        select(Tour).options(joinedload(Tour.city), joinedload(Tour.company))
        .where(Tour.status == "confirmed", Tour.partner_email.is_not(None),
               Tour.starts_at > now, Tour.starts_at < now + timedelta(days=3))
    ).scalars().all()
    for tour in tours:
        zone = ZoneInfo(tour.city.timezone)
        tomorrow = (now.astimezone(zone) + timedelta(days=1)).date()
        if tour.starts_at.astimezone(zone).date() != tomorrow:
            continue
        key = f"reminder:{tour.id}:{tomorrow.isoformat()}:{tour.partner_email}"
        digest = hashlib.sha256(key.encode()).hexdigest()
        if session.execute(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == digest)).first():
            continue
        city = tour.city
        with force_locale(tour.partner_language):
            subject = _subject("reminder", "partner", tour, city)
        _queue(session, key=key, kind="partner_reminder", recipient=tour.partner_email,
               language=tour.partner_language, subject=subject, template="partner_reminder",
               context={"partner_link": external_url("partner.page", token=tour.token), "event": "reminder"},
               city=city, tour=tour)
        count += 1
    try:
        session.commit()
    except IntegrityError:  # another worker queued the same reminder in the same second
        session.rollback()
    return count


# --- sending --------------------------------------------------------------------------------------


class TemporaryFailure(Exception):
    """The server said 4xx about this message: try it again later."""


class ConnectionLost(TemporaryFailure):
    """The server is unreachable or went away. Nothing is wrong with the message: it waits, however long the
    outage lasts (it is never marked failed for it)."""


class PermanentFailure(Exception):
    """The server refused this message for good (5xx): retrying will not help."""


@dataclass
class SMTPSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    ssl: bool
    timeout: float

    @classmethod
    def from_url(cls, url: str) -> SMTPSettings:
        parsed = urlparse(url)
        if parsed.scheme not in ("smtp", "smtps"):
            raise ValueError("TOURBOOK_MAIL_URL must start with smtp:// or smtps://")
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        return cls(
            host=parsed.hostname or "localhost",
            port=parsed.port or (465 if parsed.scheme == "smtps" else 25),
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            starttls=query.get("starttls") in ("1", "true", "yes"),
            ssl=parsed.scheme == "smtps",
            timeout=float(query.get("timeout", 20)),
        )


class SMTPTransport:
    def __init__(self, settings: SMTPSettings) -> None:
        self.settings = settings
        self.connection: smtplib.SMTP | None = None

    def __enter__(self) -> SMTPTransport:
        s = self.settings
        try:
            if s.ssl:
                self.connection = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                                   context=ssl.create_default_context())
            else:
                self.connection = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
                if s.starttls:
                    self.connection.starttls(context=ssl.create_default_context())
            if s.username:
                self.connection.login(s.username, s.password or "")
        except (OSError, smtplib.SMTPException) as exc:
            self.connection = None
            raise ConnectionLost(f"cannot connect to the mail server: {exc}") from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.connection is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self.connection.quit()
            self.connection.close()
            self.connection = None

    def send(self, mail: OutgoingMail) -> None:
        assert self.connection is not None
        try:
            self.connection.sendmail(mail.sender, [mail.recipient], mail.data)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _msg in exc.recipients.values()]
            if all(500 <= c < 600 for c in codes):
                raise PermanentFailure(f"recipient refused: {codes}") from exc
            raise TemporaryFailure(f"recipient deferred: {codes}") from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise ConnectionLost(f"the mail server closed the connection: {exc}") from exc
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:  # the server is shutting down this connection
                raise ConnectionLost(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
            if 500 <= exc.smtp_code < 600:
                raise PermanentFailure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
            raise TemporaryFailure(f"{exc.smtp_code} {exc.smtp_error!r}") from exc
        except OSError as exc:  # reset, broken pipe, timeout
            raise ConnectionLost(f"the connection to the mail server broke: {exc}") from exc
        except smtplib.SMTPException as exc:
            raise TemporaryFailure(str(exc)) from exc


class LogTransport:
    """Development without a mail server: messages are written to the log."""

    def __enter__(self) -> LogTransport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def send(self, mail: OutgoingMail) -> None:
        log.info("mail to %s: %s\n%s", mail.recipient, mail.subject, mail.text)


def transport_from_config():  # noqa: ANN201
    url = current_app.config.get("MAIL_URL")
    return SMTPTransport(SMTPSettings.from_url(url)) if url else LogTransport()


@dataclass(frozen=True)
class OutgoingMail:
    """A message ready for the wire: envelope, the MIME bytes, and the plain text for the log."""

    sender: str
    recipient: str
    subject: str
    text: str
    data: bytes


def _text_part(body: str, subtype: str) -> MIMEText:
    return MIMEText(body, subtype, "utf-8")


def build_email(row: OutboxMessage) -> OutgoingMail:
    """The MIME message of an outbox row. Built with the classic email.mime classes: the same structure as
    EmailMessage would give, at a quarter of the cost, which counts for a worker sending thousands."""
    cfg = current_app.config
    body = MIMEMultipart("alternative")
    body.attach(_text_part(row.body_text, "plain"))
    body.attach(_text_part(row.body_html, "html"))
    message = body
    if row.ics and row.ics_method:
        # As the big calendar services send it: the iTIP part inside the alternative (text/calendar with the
        # method), and a copy as application/ics for clients that only offer attachments. A second
        # text/calendar part would show up twice in some clients.
        invitation = _text_part(row.ics, "calendar")
        invitation.set_param("method", row.ics_method)
        body.attach(invitation)
        attachment = MIMEApplication(row.ics.encode(), "ics")
        attachment.add_header("Content-Disposition", "attachment",
                              filename="invite.ics" if row.ics_method == "REQUEST" else "cancel.ics")
        message = MIMEMultipart("mixed")
        message.attach(body)
        message.attach(attachment)
    message["Subject"] = row.subject if row.subject.isascii() else Header(row.subject, "utf-8")
    message["From"] = formataddr((cfg["MAIL_FROM_NAME"], cfg["MAIL_FROM_ADDRESS"]))
    message["To"] = row.recipient
    message["Date"] = format_datetime(row.created_at)
    domain = cfg["MAIL_FROM_ADDRESS"].split("@")[-1]
    # The same message always has the same Message-ID, so a receiving server can drop a duplicate.
    message["Message-ID"] = f"<{row.dedupe_key[:40]}@{domain}>"
    data = message.as_bytes(policy=compat32.clone(linesep="\r\n"))
    return OutgoingMail(cfg["MAIL_FROM_ADDRESS"], row.recipient, row.subject, row.body_text, data)


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def recover_stuck(session: Session, now: datetime) -> int:
    """A worker that died while sending leaves its message 'sending'. It may have reached the server, so it
    is not resent by itself (no duplicates): it is marked failed for a person to look at and retry."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == "sending", OutboxMessage.claimed_at < now - STUCK_AFTER)
        .values(status="failed", last_error="The sender stopped while sending; check and retry if needed.")
    )
    session.commit()
    return result.rowcount or 0


def send_due(session: Session, transport=None, now: datetime | None = None, batch: int = 200) -> dict:  # noqa: ANN001
    """Send what is due. Each message is claimed (pending → sending, committed) before it goes out, and
    marked sent after (committed with the next claim), so two workers never send the same message and a
    worker that dies mid-send leaves it 'sending' for recover_stuck. When the server is down or goes away,
    the messages of this run wait (back-off per message) and stay pending."""
    now = now or utcnow()
    transport = transport or transport_from_config()
    stats = {"sent": 0, "retry": 0, "failed": 0}
    recover_stuck(session, now)
    due = session.execute(
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.id).limit(batch)
    ).scalars().all()
    if not due:
        return stats
    waiting = list(due)  # not yet tried in this run
    try:
        with transport as connection:
            try:
                while waiting:
                    message_id = waiting.pop(0)
                    claimed = session.execute(
                        update(OutboxMessage)
                        .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
                        .values(status="sending", claimed_at=utcnow(), attempts=OutboxMessage.attempts + 1)
                    ).rowcount
                    # One commit: this message's claim, and the previous one's "sent" (a crash between the
                    # two leaves exactly what it left before: the message in flight is 'sending').
                    session.commit()
                    if not claimed:
                        continue
                    row = session.get(OutboxMessage, message_id)
                    try:
                        render_message(session, row)
                    except Exception as exc:  # noqa: BLE001 - a message that cannot be written is shown, not lost
                        log.exception("outbox: message %s could not be written", message_id)
                        row.status, row.last_error = "failed", f"could not be written: {exc}"[:500]
                        session.commit()
                        stats["failed"] += 1
                        continue
                    try:
                        connection.send(build_email(row))
                    except ConnectionLost as exc:
                        # Claimed, not sent: back to pending, never failed for an outage; the rest waits too.
                        row.status, row.last_error = "pending", str(exc)[:500]
                        row.next_attempt_at = now + _backoff(row.attempts)
                        session.commit()
                        stats["retry"] += 1
                        raise
                    except TemporaryFailure as exc:
                        _retry_later(row, str(exc), now)
                        session.commit()
                        stats["retry" if row.status == "pending" else "failed"] += 1
                        continue
                    except PermanentFailure as exc:
                        row.status, row.last_error = "failed", str(exc)[:500]
                        session.commit()
                        stats["failed"] += 1
                        continue
                    row.status, row.sent_at, row.last_error = "sent", utcnow(), None
                    stats["sent"] += 1
            finally:
                _save_sent(session)
    except ConnectionLost as exc:
        _postpone(session, waiting, str(exc), now)
        stats["retry"] += len(waiting)
        log.warning("mail server unavailable, %d messages wait: %s", stats["retry"], exc)
    return stats


def _save_sent(session: Session) -> None:
    """Commit the last "sent", also when something unexpected stops the run."""
    if session.dirty:
        session.commit()


def _postpone(session: Session, message_ids: list[int], error: str, now: datetime) -> None:
    """The server is away: these messages (not tried in this run) wait with a growing back-off each, and
    stay pending however long the outage lasts."""
    if not message_ids:
        return
    for row in session.execute(
        select(OutboxMessage).where(OutboxMessage.id.in_(message_ids), OutboxMessage.status == "pending")
    ).scalars():
        row.attempts += 1
        row.last_error = error[:500]
        row.next_attempt_at = now + _backoff(row.attempts)
    session.commit()


def _retry_later(row: OutboxMessage, error: str, now: datetime) -> None:
    row.last_error = error[:500]
    if row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
    else:
        row.status = "pending"
        row.next_attempt_at = now + _backoff(row.attempts)


def retry_message(session: Session, row: OutboxMessage) -> None:
    """A coordinator sends a failed message again."""
    if row.status != "failed":
        return
    row.status, row.next_attempt_at, row.attempts = "pending", utcnow(), 0


def run_worker(session: Session, loop: bool, interval: float, daily_jobs=None) -> None:  # noqa: ANN001
    """The outbox worker: queue reminders, send what is due; with ``loop`` forever (and daily jobs once a
    day). In a loop, a failing round (the database restarting, say) is logged and the next one tries again;
    a single run lets the error through."""
    last_daily: str | None = None
    while True:
        try:
            queue_reminders(session)
            stats = send_due(session)
            if stats["sent"] or stats["retry"] or stats["failed"]:
                log.info("outbox: %s", stats)
            today = utcnow().date().isoformat()
            if loop and daily_jobs and today != last_daily:
                for job in daily_jobs:
                    job(session)
                last_daily = today
        except Exception:
            if not loop:
                raise
            session.rollback()
            log.exception("outbox: this round failed; trying again in %s s", interval)
        if not loop:
            return
        clock.sleep(interval)


# The name other modules use to add a message of their own (rendered from templates/mail/<template>.*).
queue_message = _queue
