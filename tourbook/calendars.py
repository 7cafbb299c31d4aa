"""iCalendar from plain values (pure: no Flask, no database). Times are written in UTC, which every
client reads correctly, so no VTIMEZONE is needed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

PRODID = "-//Tourbook//Partner tours//DE"


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    uid: str  # opaque and stable, without the domain
    sequence: int
    start: datetime
    end: datetime
    summary: str
    location: str
    description: str
    cancelled: bool
    last_modified: datetime
    url: str | None = None


def _duration(value: str) -> timedelta:
    """'PT1H' style durations of hours and minutes."""
    hours = minutes = 0
    body = value.removeprefix("PT")
    if "H" in body:
        h, body = body.split("H", 1)
        hours = int(h)
    if "M" in body:
        minutes = int(body.split("M", 1)[0])
    return timedelta(hours=hours, minutes=minutes)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _vevent(item: CalendarEvent, domain: str) -> Event:
    event = Event()
    event.add("uid", f"{item.uid}@{domain}")
    event.add("sequence", item.sequence)
    event.add("dtstamp", _utc(item.last_modified))
    event.add("last-modified", _utc(item.last_modified))
    event.add("dtstart", _utc(item.start))
    event.add("dtend", _utc(item.end))
    event.add("summary", item.summary)
    if item.location:
        event.add("location", item.location)
    if item.description:
        event.add("description", item.description)
    if item.url:
        event.add("url", item.url)
    event.add("status", "CANCELLED" if item.cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    return event


def render_calendar(items: Iterable[CalendarEvent], domain: str, name: str | None = None,
                    method: str | None = None, refresh_interval: str | None = None,
                    organizer: str | None = None, attendee: str | None = None) -> bytes:
    """A VCALENDAR; with ``method`` (REQUEST/CANCEL) an iTIP message with ORGANIZER and ATTENDEE."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method:
        cal.add("method", method)
    if name:
        cal.add("name", name)
        cal.add("x-wr-calname", name)
    if refresh_interval:
        # REFRESH-INTERVAL;VALUE=DURATION (RFC 7986) and the older X-PUBLISHED-TTL that Outlook reads.
        cal.add("refresh-interval", _duration(refresh_interval), parameters={"VALUE": "DURATION"})
        cal.add("x-published-ttl", refresh_interval)
    for item in items:
        event = _vevent(item, domain)
        if organizer:
            event.add("organizer", f"mailto:{organizer}")
        if attendee:
            event.add("attendee", f"mailto:{attendee}", parameters={"ROLE": "REQ-PARTICIPANT", "RSVP": "FALSE"})
        cal.add_component(event)
    return cal.to_ical()
