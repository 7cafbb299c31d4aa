"""Read iCalendar text the way calendar clients do: with libical (Evolution, through ctypes on Debian's
``libical3``) and with ical.js (Thunderbird, run by node from ``node_modules``).

Both return plain values (``ParsedEvent``: uid, sequence, status, start and end as aware UTC datetimes), so a
test compares the instants a client reads with the ones it meant. ``libical_errors`` runs libical's
restriction check (RFC 5545/5546 rules per METHOD) and returns the X-LIC-ERROR texts it left in the tree.

Locally the parser tests skip, loudly, when libical or node_modules is missing; with
``TOURBOOK_REQUIRE_BROWSER=1`` (CI, which installs libical3 and runs ``npm ci``) they fail instead."""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ICAL_JS = ROOT / "node_modules" / "ical.js" / "dist" / "ical.js"


def parsers_required() -> bool:
    return os.environ.get("TOURBOOK_REQUIRE_BROWSER") == "1"


def _unavailable(what: str) -> None:
    """Skip loudly, or fail when CI requires the real parsers."""
    if parsers_required():
        pytest.fail(f"TOURBOOK_REQUIRE_BROWSER=1 but {what}", pytrace=False)
    pytest.skip(f"CALENDAR PARSER NOT AVAILABLE - {what}")


@dataclass(frozen=True)
class ParsedEvent:
    uid: str
    sequence: int
    status: str | None
    summary: str | None
    start: datetime  # aware, UTC
    end: datetime
    location: str | None = None
    description: str | None = None


# --- libical through ctypes ---------------------------------------------------------------------------


class _IcalTime(ctypes.Structure):
    """``struct icaltimetype`` of libical 3 (``is_utc`` was dropped in 3.0; the zone pointer says it)."""

    _fields_ = [
        ("year", ctypes.c_int), ("month", ctypes.c_int), ("day", ctypes.c_int),
        ("hour", ctypes.c_int), ("minute", ctypes.c_int), ("second", ctypes.c_int),
        ("is_date", ctypes.c_int), ("is_daylight", ctypes.c_int), ("zone", ctypes.c_void_p),
    ]


@cache
def _libical() -> ctypes.CDLL | None:
    for name in ("libical.so.3", ctypes.util.find_library("ical")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        ptr, text, integer = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
        signatures = {
            "icalparser_parse_string": ([text], ptr),
            "icalrestriction_check": ([ptr], integer),
            "icalcomponent_count_errors": ([ptr], integer),
            "icalcomponent_free": ([ptr], None),
            "icalcomponent_isa": ([ptr], integer),
            "icalcomponent_string_to_kind": ([text], integer),
            "icalcomponent_get_first_component": ([ptr, integer], ptr),
            "icalcomponent_get_next_component": ([ptr, integer], ptr),
            "icalcomponent_get_first_property": ([ptr, integer], ptr),
            "icalcomponent_get_next_property": ([ptr, integer], ptr),
            "icalcomponent_get_uid": ([ptr], text),
            "icalcomponent_get_summary": ([ptr], text),
            "icalcomponent_get_location": ([ptr], text),
            "icalcomponent_get_description": ([ptr], text),
            "icalcomponent_get_sequence": ([ptr], integer),
            "icalcomponent_get_dtstart": ([ptr], _IcalTime),
            "icalcomponent_get_dtend": ([ptr], _IcalTime),
            "icaltime_as_timet_with_zone": ([_IcalTime, ptr], ctypes.c_int64),
            "icalproperty_string_to_kind": ([text], integer),
            "icalproperty_get_value_as_string": ([ptr], text),
            "icalproperty_as_ical_string": ([ptr], text),
        }
        for function, (argtypes, restype) in signatures.items():
            getattr(lib, function).argtypes = argtypes
            getattr(lib, function).restype = restype
        return lib
    return None


def require_libical() -> ctypes.CDLL:
    lib = _libical()
    if lib is None:
        _unavailable("libical (Debian package libical3) is not installed")
    return lib


def _components(lib: ctypes.CDLL, parent: int, kind: int):  # noqa: ANN202
    child = lib.icalcomponent_get_first_component(parent, kind)
    while child:
        yield child
        child = lib.icalcomponent_get_next_component(parent, kind)


def _properties(lib: ctypes.CDLL, component: int, kind: int):  # noqa: ANN202
    prop = lib.icalcomponent_get_first_property(component, kind)
    while prop:
        yield prop
        prop = lib.icalcomponent_get_next_property(component, kind)


def _error_texts(lib: ctypes.CDLL, component: int) -> list[str]:
    """The X-LIC-ERROR properties libical put into this component and everything under it."""
    errors = [
        lib.icalproperty_as_ical_string(p).decode().replace("\r\n ", "").strip()
        for p in _properties(lib, component, lib.icalproperty_string_to_kind(b"X-LIC-ERROR"))
    ]
    for child in _components(lib, component, lib.icalcomponent_string_to_kind(b"ANY")):
        errors += _error_texts(lib, child)
    return errors


def _instant(lib: ctypes.CDLL, value: _IcalTime) -> datetime:
    """The instant libical means: converted from the time's own zone (UTC, or a VTIMEZONE it resolved)."""
    return datetime.fromtimestamp(lib.icaltime_as_timet_with_zone(value, value.zone), UTC)


def _text(raw: bytes | None) -> str | None:
    return raw.decode() if raw is not None else None


def _parse(lib: ctypes.CDLL, ics: str | bytes) -> int:
    data = ics.encode() if isinstance(ics, str) else ics
    root = lib.icalparser_parse_string(data)
    assert root, "libical could not parse the calendar at all"
    assert lib.icalcomponent_isa(root) == lib.icalcomponent_string_to_kind(b"VCALENDAR"), \
        "libical did not find one VCALENDAR"
    return root


def libical_errors(ics: str | bytes) -> list[str]:
    """Parse, run libical's restriction check and return every error it reports (empty: all good)."""
    lib = require_libical()
    root = _parse(lib, ics)
    try:
        lib.icalrestriction_check(root)
        errors = _error_texts(lib, root)
        assert lib.icalcomponent_count_errors(root) == len(errors)
        return errors
    finally:
        lib.icalcomponent_free(root)


def libical_events(ics: str | bytes) -> list[ParsedEvent]:
    lib = require_libical()
    root = _parse(lib, ics)
    status_kind = lib.icalproperty_string_to_kind(b"STATUS")
    try:
        events = []
        for event in _components(lib, root, lib.icalcomponent_string_to_kind(b"VEVENT")):
            status = next((_text(lib.icalproperty_get_value_as_string(p))
                           for p in _properties(lib, event, status_kind)), None)
            events.append(ParsedEvent(
                uid=_text(lib.icalcomponent_get_uid(event)) or "",
                sequence=lib.icalcomponent_get_sequence(event),
                status=status,
                summary=_text(lib.icalcomponent_get_summary(event)),
                start=_instant(lib, lib.icalcomponent_get_dtstart(event)),
                end=_instant(lib, lib.icalcomponent_get_dtend(event)),
                location=_text(lib.icalcomponent_get_location(event)),
                description=_text(lib.icalcomponent_get_description(event)),
            ))
        return events
    finally:
        lib.icalcomponent_free(root)


# --- ical.js through node -----------------------------------------------------------------------------

_ICAL_JS_SCRIPT = r"""
import { readFileSync } from "node:fs";
const { default: ICAL } = await import(process.argv[1]);
const root = new ICAL.Component(ICAL.parse(readFileSync(0, "utf8")));
for (const zone of root.getAllSubcomponents("vtimezone")) {
  ICAL.TimezoneService.register(new ICAL.Timezone(zone));
}
const iso = (time) => new Date(time.toUnixTime() * 1000).toISOString();
const events = root.getAllSubcomponents("vevent").map((component) => {
  const event = new ICAL.Event(component);
  return {
    uid: event.uid, sequence: event.sequence, status: component.getFirstPropertyValue("status"),
    summary: event.summary, start: iso(event.startDate), end: iso(event.endDate),
    location: event.location, description: event.description,
  };
});
const value = (name) => { const v = root.getFirstPropertyValue(name); return v === null ? null : String(v); };
process.stdout.write(JSON.stringify({
  method: value("method"), name: value("name"), refresh_interval: value("refresh-interval"),
  published_ttl: value("x-published-ttl"), events,
}));
"""


def require_ical_js() -> str:
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed (apt-get install nodejs)")
    if not ICAL_JS.exists():
        _unavailable(f"{ICAL_JS} is missing (run npm ci in {ROOT})")
    return node


def ical_js_calendar(ics: str | bytes) -> dict:
    """What ical.js reads: the calendar's method, name, refresh settings and its events (as ParsedEvent)."""
    node = require_ical_js()
    data = ics.decode() if isinstance(ics, bytes) else ics
    result = subprocess.run(
        [node, "--input-type=module", "-e", _ICAL_JS_SCRIPT, ICAL_JS.as_uri()],
        input=data, capture_output=True, text=True, timeout=60, cwd=ROOT, check=False,
    )
    assert result.returncode == 0, f"ical.js could not read the calendar:\n{result.stderr}"
    parsed = json.loads(result.stdout)
    parsed["events"] = [
        ParsedEvent(uid=e["uid"], sequence=e["sequence"], status=e["status"], summary=e["summary"],
                    start=datetime.fromisoformat(e["start"]), end=datetime.fromisoformat(e["end"]),
                    location=e["location"], description=e["description"])
        for e in parsed["events"]
    ]
    return parsed


def ical_js_events(ics: str | bytes) -> list[ParsedEvent]:
    return ical_js_calendar(ics)["events"]
