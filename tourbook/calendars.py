"""iCalendar from plain values (pure: no Flask, no database). Times are written in UTC, which every
client reads correctly, so no VTIMEZONE is needed.

The text is written here rather than through the icalendar package: what we write is small and fixed
(one VCALENDAR, VEVENTs with UTC times, text and address properties), and a feed of a guide with 500 tours
has to render in a few milliseconds, which the general-purpose library is far too slow for. The rules that
matter (RFC 5545 3.1 folding at 75 octets, 3.3.11 TEXT escaping, CRLF) are below, and the output is checked
with libical and ical.js in the tests."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

PRODID = "-//Tourbook//Partner tours//DE"
METHODS = ("REQUEST", "CANCEL", "PUBLISH")
_DURATION = re.compile(r"P(?:\d+W|(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+S)?)?)")
# Control characters other than tab are not allowed in TEXT (RFC 5545 3.3.11); newlines are escaped first.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


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


_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SPECIAL = re.compile(r"[\\;,\x00-\x08\x0a-\x1f\x7f]")


def escape_text(value: str) -> str:
    """A TEXT value: backslash, semicolon, comma and newlines escaped, other control characters dropped."""
    if not _SPECIAL.search(value):
        return value
    value = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return _CONTROL.sub("", value)


def _single_line(value: str) -> str:
    """A URI or address value: no escaping in iCalendar, so no line breaks or controls may get through."""
    if not _ANY_CONTROL.search(value):
        return value
    return _CONTROL.sub("", value.replace("\r", "").replace("\n", "").replace("\t", ""))


def fold(line: str) -> str:
    """One content line folded at 75 octets (continuations start with a space), never inside a UTF-8
    character."""
    if len(line) <= 75 and line.isascii():
        return line
    encoded = line.encode()
    if len(encoded) <= 75:
        return line
    parts: list[str] = []
    limit = 75
    start = 0
    while start < len(encoded):
        end = min(start + limit, len(encoded))
        while end < len(encoded) and (encoded[end] & 0xC0) == 0x80:  # a continuation byte: step back
            end -= 1
        parts.append(encoded[start:end].decode())
        start = end
        limit = 74  # the leading space counts
    return "\r\n ".join(parts)


def _utc(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime in a calendar event")
    v = value.astimezone(UTC)
    return "%04d%02d%02dT%02d%02d%02dZ" % (v.year, v.month, v.day, v.hour, v.minute, v.second)  # noqa: UP031 - %-formatting is 3x faster here


def _vevent(item: CalendarEvent, domain: str, organizer: str | None, attendee: str | None) -> list[str]:
    """The lines of one VEVENT, folded where they can be long (the fixed ones never are)."""
    changed = _utc(item.last_modified)
    lines = [
        "BEGIN:VEVENT",
        fold(f"UID:{escape_text(f'{item.uid}@{domain}')}"),
        f"DTSTAMP:{changed}",
        f"LAST-MODIFIED:{changed}",
        f"SEQUENCE:{int(item.sequence)}",
        f"DTSTART:{_utc(item.start)}",
        f"DTEND:{_utc(item.end)}",
        fold(f"SUMMARY:{escape_text(item.summary)}"),
    ]
    if item.location:
        lines.append(fold(f"LOCATION:{escape_text(item.location)}"))
    if item.description:
        lines.append(fold(f"DESCRIPTION:{escape_text(item.description)}"))
    if item.url:
        lines.append(fold(f"URL:{_single_line(item.url)}"))
    lines.append("STATUS:CANCELLED" if item.cancelled else "STATUS:CONFIRMED")
    lines.append("TRANSP:OPAQUE")
    if organizer:
        lines.append(fold(f"ORGANIZER:mailto:{_single_line(organizer)}"))
    if attendee:
        lines.append(fold(f"ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=FALSE:mailto:{_single_line(attendee)}"))
    lines.append("END:VEVENT")
    return lines


def vevent(item: CalendarEvent, domain: str, organizer: str | None = None, attendee: str | None = None) -> str:
    """One VEVENT as text, its lines joined by CRLF (without the last one): what render_calendar writes for
    the item, for callers that keep events they wrote before."""
    return "\r\n".join(_vevent(item, domain, organizer, attendee))


def render_calendar(items: Iterable[CalendarEvent], domain: str, name: str | None = None,
                    method: str | None = None, refresh_interval: str | None = None,
                    organizer: str | None = None, attendee: str | None = None,
                    vevents: Iterable[str] = ()) -> bytes:
    """A VCALENDAR; with ``method`` (REQUEST/CANCEL) an iTIP message with ORGANIZER and ATTENDEE.
    ``vevents``: events already written by :func:`vevent`, after ``items``."""
    if method is not None and method not in METHODS:
        raise ValueError(f"unknown iTIP method {method!r}")
    if refresh_interval is not None and not _DURATION.fullmatch(refresh_interval):
        raise ValueError(f"not a duration: {refresh_interval!r}")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN"]
    if method:
        lines.append(f"METHOD:{method}")
    if name:
        lines.append(fold(f"NAME:{escape_text(name)}"))
        lines.append(fold(f"X-WR-CALNAME:{escape_text(name)}"))
    if refresh_interval:
        # REFRESH-INTERVAL (RFC 7986) and the older X-PUBLISHED-TTL that Outlook reads.
        lines.append(f"REFRESH-INTERVAL;VALUE=DURATION:{refresh_interval}")
        lines.append(f"X-PUBLISHED-TTL:{refresh_interval}")
    for item in items:
        lines.extend(_vevent(item, domain, organizer, attendee))
    lines.extend(vevents)
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()
