"""Booking, rescheduling, cancelling, declining and reassigning tours: one transaction each.

Services take the session and the acting user explicitly and raise domain errors; views map those to
responses. No guide is ever booked twice: on PostgreSQL an exclusion constraint refuses overlapping tours
of one guide (and the chosen guide's row is locked while limits are re-checked); on SQLite every booking
write runs in a ``BEGIN IMMEDIATE`` transaction, so writers are serialised and re-check inside it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from .assignment import Candidate, rank_guides
from .availability import CityRules, Interval, check_interval, free_guides, nearest_alternatives
from .database import write_transaction
from .hours import (
    EngineInput,
    HoursError,
    add_absence,
    calendar_changed,
    checked_absence,
    load_engine_input,
    tours_hit_by,
)
from .mail import queue_tour_messages
from .models import Absence, AuditEntry, City, Company, Role, Tour, User, record, utcnow

# --- errors ---------------------------------------------------------------------------------------


class TourError(Exception):
    """A domain error; ``code`` is stable for views and tests, ``field`` names the form field if any."""

    def __init__(self, code: str, field: str | None = None, alternatives: list[Interval] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.field = field
        self.alternatives = alternatives or []


# --- details --------------------------------------------------------------------------------------


@dataclass
class PartnerDetails:
    first_name: str
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    language: str = "de"
    interests: list[str] = field(default_factory=list)
    people: int = 1
    accessibility_needs: str | None = None
    guide_note: str | None = None
    meeting_point: str = ""
    meeting_place: str | None = None  # models.MEETING_PLACES


@dataclass(frozen=True)
class Availability:
    """What the live form shows: who is free for an interval, else the nearest alternatives."""

    problem: str | None  # a check_interval code, or None
    free: list[int]
    speakers: list[int]  # free guides who speak the partner's language
    alternatives: list[Interval]
    languages: tuple[str, ...] = ()  # when none of the free guides speaks it: the languages they speak
    alternatives_speak: bool = False  # the alternatives have a free guide who speaks the language asked for


def _rules_problem(city: City, start: datetime, end: datetime, now: datetime,
                   lead_time: timedelta | None = None) -> str | None:
    """The city's rules on the interval alone, checked before anything is loaded: a date centuries away is
    simply too far (the loader's week arithmetic would overflow at the ends of the calendar)."""
    rules = CityRules(
        timezone=city.timezone, lead_time=timedelta(hours=city.lead_time_hours) if lead_time is None else lead_time,
        horizon=timedelta(days=city.horizon_days), min_duration=timedelta(minutes=city.min_duration_minutes),
        max_duration=timedelta(minutes=city.max_duration_minutes), buffer=timedelta(minutes=city.buffer_minutes),
    )
    try:
        return check_interval(rules, start, end, now)
    except OverflowError:  # e.g. 0001-01-01 00:30 in Berlin is before the first UTC instant Python knows
        return "too_soon" if start.year < now.year else "too_far"


def _free_for(session: Session, city: City, start: datetime, end: datetime, now: datetime,
              exclude_tour_id: int | None, lead_time: timedelta | None = None
              ) -> tuple[str | None, EngineInput | None, list[int]]:
    """The city's rules on [start, end) (a problem code, or None), and the guides free for it; ``lead_time``
    instead of the city's (a coordinator's assignment has none)."""
    problem = _rules_problem(city, start, end, now, lead_time)
    if problem:
        return problem, None, []
    start, end = start.astimezone(UTC), end.astimezone(UTC)  # the engine is fastest with UTC instants
    data = load_engine_input(session, city, start, end, exclude_tour_id=exclude_tour_id, covering=True)
    if lead_time is not None:
        data = replace(data, rules=replace(data.rules, lead_time=lead_time))
    problem = check_interval(data.rules, start, end, now)
    if problem:
        return problem, None, []
    return None, data, free_guides(data.rules, data.guides, start, end, now)


def guides_free_for(session: Session, city: City, start: datetime, end: datetime,
                    exclude_tour_id: int | None = None, lead_time: timedelta | None = None) -> list[int]:
    """The guides free for [start, end) by the city's rules (none when the rules refuse the interval)."""
    return _free_for(session, city, start, end, utcnow(), exclude_tour_id, lead_time)[2]


def availability_for(session: Session, city: City, start: datetime, end: datetime, language: str | None,
                     now: datetime | None = None, exclude_tour_id: int | None = None,
                     passed_over: frozenset[int] = frozenset()) -> Availability:
    """Who is free for [start, end), in the language or not, else the nearest alternatives. ``passed_over``:
    guides who count as not free (those who declined the tour being moved: reschedule_tour passes over them)."""
    now = now or utcnow()
    language = language or None  # an empty choice asks for no language, not for one nobody speaks
    problem, data, free = _free_for(session, city, start, end, now, exclude_tour_id)
    if problem:
        return Availability(problem, [], [], [])
    free = [g for g in free if g not in passed_over]
    languages: tuple[str, ...] = ()
    if language:  # the same as asking free_guides again with the language, without a second pass
        speaks = {g.guide_id for g in data.guides if language in g.languages}
        speakers = [g for g in free if g in speaks]
        if free and not speakers:
            chosen = set(free)
            languages = tuple(sorted({code for g in data.guides if g.guide_id in chosen for code in g.languages}))
    else:
        speakers = free
    alternatives: list[Interval] = []
    in_language = False
    if not free:  # the nearest times when a guide who speaks the language is free, else any guide
        alternatives, in_language = _alternatives(session, city, start, end, now, language, exclude_tour_id,
                                                  or_any=True, passed_over=passed_over)
    elif not speakers:  # free guides, none who speaks the language: the nearest times when one who does is free
        alternatives, in_language = _alternatives(session, city, start, end, now, language, exclude_tour_id,
                                                  passed_over=passed_over)
    return Availability(None, free, speakers, alternatives, languages, in_language)


def _alternatives(session: Session, city: City, start: datetime, end: datetime, now: datetime,
                  language: str | None, exclude_tour_id: int | None, or_any: bool = False,
                  passed_over: frozenset[int] = frozenset()) -> tuple[list[Interval], bool]:
    """The nearest times when a guide who speaks ``language`` (any guide without one) is free, one or two a
    day, and whether they are in that language. ``or_any``: when no guide who speaks it is free in the days
    searched, the times when any guide is (HR may still book one who does not speak it, and is told so)."""
    wide = load_engine_input(
        session, city, start - timedelta(days=8), end + timedelta(days=8), exclude_tour_id=exclude_tour_id
    )
    if passed_over:
        wide = replace(wide, guides=[g for g in wide.guides if g.guide_id not in passed_over])
    found = nearest_alternatives(wide.rules, wide.guides, start, end, now, language=language, limit=5, spread=True)
    if found or not language or not or_any:
        return found, bool(language and found)
    return nearest_alternatives(wide.rules, wide.guides, start, end, now, limit=5, spread=True), False


@dataclass
class Choice:
    """What _choose found: the guide (None when nobody is free), else the nearest alternatives, or the
    interval's problem; ``data`` is what it read, for the re-check after the guide's lock; ``ranked`` the
    free guides in the rule's order (``guide_id`` first), for when that one is being booked right now."""

    guide_id: int | None
    alternatives: list[Interval] = field(default_factory=list)
    problem: str | None = None
    data: EngineInput | None = None
    guide: User | None = None  # the guide's row as the lock read it: held here, the session keeps it for the mail
    ranked: list[int] = field(default_factory=list)


def _choose(session: Session, city: City, start: datetime, end: datetime, language: str, now: datetime,
            exclude_tour_id: int | None = None, prefer: int | None = None, skip: set[int] | None = None,
            reassigning: bool = False, lead_time: timedelta | None = None) -> Choice:
    """The guide the rule picks for [start, end): free, speaking ``language`` before not speaking it, fewest
    tours in the four weeks around, least recently assigned. ``reassigning``: an automatic reassignment, which
    nobody looks at before the partner does: a guide who does not speak the language is no choice at all, and
    there is nobody to offer alternatives to; the lead time, a rule for booking, does not hold (as for a
    coordinator's assignment): a guide who falls ill the day before hands the tour to one who is free.
    ``lead_time`` instead of the city's otherwise (a tour kept at its time is no new booking)."""
    if reassigning:
        lead_time = timedelta(0)
    problem = _rules_problem(city, start, end, now, lead_time)
    if problem:
        return Choice(None, problem=problem)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    # What the fairness rule asks comes with the calendars (one statement): the tours of the four weeks around.
    data = load_engine_input(session, city, start, end, exclude_tour_id=exclude_tour_id, covering=True,
                             around=(start - timedelta(days=14), start + timedelta(days=14)))
    if lead_time is not None:
        data = replace(data, rules=replace(data.rules, lead_time=lead_time))  # also for the re-check when locked
    problem = check_interval(data.rules, start, end, now)
    if problem:
        return Choice(None, problem=problem)
    free = [g for g in free_guides(data.rules, data.guides, start, end, now) if not skip or g not in skip]
    speaking = {g.guide_id for g in data.guides if language in g.languages}
    if reassigning and language:
        free = [g for g in free if g in speaking]
    if prefer is not None and prefer in free:
        return Choice(prefer, data=data, ranked=[prefer])
    if not free:
        if reassigning:
            return Choice(None, [])
        return Choice(None, _alternatives(session, city, start, end, now, language, exclude_tour_id, or_any=True)[0])
    ranked = rank_guides(
        Candidate(g, g in speaking, data.fairness[g].tours_around, _aware(data.fairness[g].last_assigned))
        for g in free
    )
    return Choice(ranked[0], data=data, ranked=ranked)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# The guide's row, locked: bookings of one guide one after the other (built once). As it is now, also when
# the session holds the guide already: its feed_version says whether their tours changed. The second form
# passes over a guide whose row another booking holds right now (no row then).
_GUIDE = select(User).where(User.id == bindparam("guide_id")).execution_options(populate_existing=True)
_LOCK_GUIDE = _GUIDE.with_for_update()
_LOCK_GUIDE_UNLESS_TAKEN = _GUIDE.with_for_update(skip_locked=True)
MAX_GUIDES_PER_ATTEMPT = 5


def _lock_a_free_guide(session: Session, city: City, choice: Choice, start: datetime, end: datetime,
                       now: datetime, tried: set[int], exclude_tour_id: int | None = None) -> bool:
    """Lock the first guide of ``choice.ranked`` who is still free and make them ``choice.guide_id``;
    False when none is (the caller starts over with fresh data, or gives up).

    On PostgreSQL a guide's row is locked (bookings of one guide one after the other, so that daily and
    weekly limits hold under races; the row read also serves the mail to the guide) and, when the version of
    their tours moved on since the choice read them, their tours are read again. A guide whose row another
    booking holds right now is passed over for the next in the rule's order, instead of waiting for that
    booking and then perhaps finding them taken: bookings at the same time go to different guides. Only when
    every one of them is held does it wait, for the first, holding no guide's lock itself (so two bookings
    never wait for each other). Guides found no longer free are added to ``tried``. On SQLite the whole
    booking runs in BEGIN IMMEDIATE: nothing can have changed since the choice, which was made inside it."""
    candidates = [g for g in choice.ranked if g not in tried][:MAX_GUIDES_PER_ATTEMPT]
    if not candidates:
        return False
    if session.get_bind().dialect.name != "postgresql":
        choice.guide_id = candidates[0]
        tried.add(candidates[0])
        return True
    locked_any = False
    for guide_id in candidates:
        guide = session.execute(_LOCK_GUIDE_UNLESS_TAKEN, {"guide_id": guide_id}).scalar_one_or_none()
        if guide is None:
            continue  # another booking holds this guide right now
        locked_any = True
        if _still_free(session, city, choice, guide, start, end, now, tried, exclude_tour_id):
            return True
    if locked_any:
        return False
    guide = session.execute(_LOCK_GUIDE, {"guide_id": candidates[0]}).scalar_one()
    return _still_free(session, city, choice, guide, start, end, now, tried, exclude_tour_id)


def _still_free(session: Session, city: City, choice: Choice, guide: User, start: datetime, end: datetime,
                now: datetime, tried: set[int], exclude_tour_id: int | None) -> bool:
    """Whether the locked ``guide`` is free for [start, end) as they are now: if so, they are the choice,
    else they join ``tried``."""
    read = choice.data.fairness.get(guide.id)
    if read is None or read.tours_version != guide.feed_version:
        # The database counts every change of the guide's calendar in their row (users.feed_version: tours by
        # triggers, hours by hours.calendar_changed, in the changing transaction): a count other than when the
        # choice read it means their tours, windows, absences, holidays or limits changed since; read their
        # calendar again. The same count, now that the lock waited for any such change, means the choice's
        # data still holds for them.
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        again = load_engine_input(session, city, start, end, exclude_tour_id=exclude_tour_id, guide_ids=[guide.id],
                                  covering=True)
        before = next((g.languages for g in choice.data.guides if g.guide_id == guide.id), None)
        # Languages changed too: the choice ranked them by the old ones; the caller chooses again.
        if guide.id not in free_guides(choice.data.rules, again.guides, start, end, now) or \
                again.guides[0].languages != before:
            tried.add(guide.id)
            return False
    choice.guide_id, choice.guide = guide.id, guide
    return True


def _lock_guide(session: Session, guide_id: int) -> None:
    """PostgreSQL: serialise bookings of one guide so that daily and weekly limits hold under races."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_LOCK_GUIDE, {"guide_id": guide_id}).scalar_one()


def _locked_tour(session: Session, tour_id: int) -> Tour:
    """The tour read again inside the change's transaction, its row locked on PostgreSQL: a change of the same
    tour at the same moment (a decline and the partner's new language, say) waits, then reads what this one
    wrote, instead of writing over it. Every change of a tour starts here, before it locks any guide: tours
    first, then guides (saving a tour also locks its guides' rows, by the feed trigger), several tours at once
    in the order of their ids (release_tours_of_absent_guide). On SQLite the transaction holds the write lock
    already and reads afresh."""
    return session.get(Tour, tour_id, populate_existing=True, with_for_update=True)


MAX_ATTEMPTS = 3


def _retrying(session: Session, attempt_body, gave_up: str = "slot_taken"):  # noqa: ANN001, ANN202
    """Run the body of a change of tours in a write transaction and commit it. A lost race on PostgreSQL (an
    exclusion violation, or a deadlock with a change of the same tours or guides) or a busy SQLite is retried
    with fresh data; after MAX_ATTEMPTS the caller gets ``gave_up`` (``slot_taken`` for a booking or assignment,
    ``busy`` for a change that takes no new slot). A TourError is the body's answer."""
    last_error: Exception | None = None
    for _attempt in range(MAX_ATTEMPTS):
        try:
            with write_transaction(session):
                result = attempt_body()
                session.commit()
                return result
        except IntegrityError as exc:
            session.rollback()
            last_error = exc
        except OperationalError as exc:  # a deadlock (PostgreSQL), locked beyond the busy timeout (SQLite)
            session.rollback()
            last_error = exc
        except (TourError, HoursError):
            session.rollback()
            raise
    raise TourError(gave_up) from last_error


def _new_token() -> str:
    return secrets.token_urlsafe(24)  # 192 bits


def book_tour(session: Session, actor: User, city: City, company: Company, start: datetime, end: datetime,
              partner: PartnerDetails, now: datetime | None = None, request_key: str | None = None) -> Tour:
    """Book a tour with the guide the rule picks (the next in its order when another booking is taking that
    guide at this moment, see _lock_a_free_guide). Raises TourError: an interval problem code, ``no_guide``
    (with alternatives) or ``slot_taken``.

    ``request_key``: the booking form's own key. The same form sent again (a double click, a post sent twice)
    gets the tour it booked, nothing is booked twice; a form sent again with another time or partner (back in
    the browser, changed and sent) is a booking of its own."""
    now = now or utcnow()
    city_id, company_id, actor_id = city.id, company.id, actor.id
    tried: set[int] = set()
    key = request_key
    rounds = 0

    def attempt() -> Tour:
        nonlocal key, rounds
        rounds += 1
        if key is not None and rounds > 1:
            # Only after a lost round: a key already taken fails the insert (unique), and then its tour is there
            # (a twin in flight is waited for by the insert). A booking's first round reads nothing for it.
            booked = session.execute(
                select(Tour).where(Tour.request_key == key, Tour.booked_by_id == actor_id)).scalar_one_or_none()
            if booked is not None and booked.status != "cancelled" and (
                    booked.starts_at, booked.ends_at, booked.partner_first_name) == (start, end, partner.first_name):
                return booked
            if booked is not None:  # changed since, or cancelled meanwhile: a booking of its own
                key = None
        city_now = session.get(City, city_id)
        choice = _choose(session, city_now, start, end, partner.language, now, skip=tried)
        if choice.problem:
            raise TourError(choice.problem, "start")
        if choice.guide_id is None:
            raise TourError("slot_taken" if tried else "no_guide", "start", choice.alternatives)
        if not _lock_a_free_guide(session, city_now, choice, start, end, now, tried):
            raise IntegrityError("guide no longer free", None, Exception("re-check"))
        guide_id = choice.guide_id
        tour = Tour(
            uid=secrets.token_hex(16), token=_new_token(), city_id=city_id, company_id=company_id,
            booked_by_id=actor_id, guide_id=guide_id, status="confirmed", starts_at=start, ends_at=end,
            blocked_until=end + timedelta(minutes=city_now.buffer_minutes), assigned_at=now,
            partner_first_name=partner.first_name, partner_last_name=partner.last_name,
            partner_email=partner.email, partner_phone=partner.phone, partner_language=partner.language,
            interests=",".join(partner.interests), people=partner.people,
            accessibility_needs=partner.accessibility_needs, guide_note=partner.guide_note,
            meeting_point=partner.meeting_point, meeting_place=partner.meeting_place, consent_at=now, sequence=0,
            created_at=now, updated_at=now, request_key=key,
        )
        session.add(tour)
        try:
            session.flush()
        except IntegrityError as error:
            if key is not None and "request_key" in str(error.orig):
                tried.discard(guide_id)  # the guide was free: it is the form that booked already
            raise
        record(session, actor, "tour_booked", tour, city_id=city_id, guide_id=guide_id,
               starts_at=start.isoformat(), ends_at=end.isoformat())
        queue_tour_messages(session, tour, "booked")
        return tour

    return _retrying(session, attempt)


def _changed(tour: Tour, now: datetime) -> None:
    tour.sequence += 1
    tour.updated_at = now


def reschedule_tour(session: Session, actor: User, tour: Tour, start: datetime, end: datetime,
                    now: datetime | None = None) -> Tour:
    """New interview times: keep the guide when free, else reassign; the partner link stays the same."""
    now = now or utcnow()
    if tour.status not in ("confirmed", "needs_guide"):
        raise TourError("not_changeable")
    if tour.starts_at <= now:
        raise TourError("started")
    tour_id, actor_id = tour.id, actor.id
    tried: set[int] = set()

    def attempt() -> Tour:
        t = _locked_tour(session, tour_id)
        if t.status not in ("confirmed", "needs_guide"):
            raise TourError("not_changeable")
        city = session.get(City, t.city_id)
        same_time = (start, end) == (t.starts_at, t.ends_at)  # a tour that needs a guide, asking again
        # A guide who declined the tour does not get it back by a new time either (the coordinator may assign
        # them); its guide (given back by the coordinator, say) keeps it when free.
        passed_over = tried | (declined_by(session, t.id) - {t.guide_id})
        choice = _choose(
            session, city, start, end, t.partner_language, now, exclude_tour_id=t.id, prefer=t.guide_id,
            skip=passed_over, lead_time=timedelta(0) if same_time else None,
        )
        if choice.problem:
            raise TourError(choice.problem, "start")
        if choice.guide_id is None:
            raise TourError("slot_taken" if tried else "no_guide", "start", choice.alternatives)
        if not _lock_a_free_guide(session, city, choice, start, end, now, tried, exclude_tour_id=t.id):
            raise IntegrityError("guide no longer free", None, Exception("re-check"))
        guide_id = choice.guide_id
        previous_guide = t.guide_id
        t.starts_at, t.ends_at = start, end
        t.blocked_until = end + timedelta(minutes=city.buffer_minutes)
        if guide_id != previous_guide:
            t.guide_id = guide_id
            t.assigned_at = now
            t.language_accepted = False
        t.status = "confirmed"
        _changed(t, now)
        session.flush()
        record(session, session.get(User, actor_id), "tour_rescheduled", t, city_id=t.city_id,
               starts_at=start.isoformat(), ends_at=end.isoformat(), guide_id=guide_id,
               previous_guide_id=previous_guide)
        queue_tour_messages(session, t, "changed", previous_guide_id=previous_guide)
        return t

    return _retrying(session, attempt)


def cancel_tour(session: Session, actor: User | None, tour: Tour, by: str, reason: str,
                now: datetime | None = None) -> Tour:
    """Cancel (by ``hr``, ``partner`` or ``coordinator``). Cancelling twice is an error, not a second change."""
    now = now or utcnow()
    tour_id = tour.id

    def attempt() -> Tour:
        t = _locked_tour(session, tour_id)
        if t.status == "cancelled":
            raise TourError("already_cancelled")
        if t.status in ("done", "no_show") or t.ends_at <= now:
            raise TourError("past")
        t.status = "cancelled"
        t.cancelled_at = now
        t.cancelled_by = by
        t.cancel_reason = reason
        _changed(t, now)
        record(session, actor, "tour_cancelled", t, city_id=t.city_id, by=by)
        queue_tour_messages(session, t, "cancelled")
        return t

    return _retrying(session, attempt, gave_up="busy")


def _speaker_takes_over(session: Session, tour: Tour, now: datetime) -> bool:
    """An automatic reassignment: a free guide who speaks the tour's language (not the guide it has), first in
    the rule's order and locked, becomes its guide. False when there is none, when other bookings took them
    meanwhile, or when the tour has started (too late for a new guide to take over by themselves)."""
    if tour.starts_at <= now:
        return False
    city = session.get(City, tour.city_id)
    tried = declined_by(session, tour.id)  # who declined it does not get it back by themselves
    if tour.guide_id:
        tried.add(tour.guide_id)
    choice = _choose(session, city, tour.starts_at, tour.ends_at, tour.partner_language, now, exclude_tour_id=tour.id,
                     skip=tried or None, reassigning=True)
    if choice.guide_id is None or not _lock_a_free_guide(
        session, city, choice, tour.starts_at, tour.ends_at, now, tried, exclude_tour_id=tour.id
    ):
        return False
    tour.guide = choice.guide or session.get(User, choice.guide_id)
    tour.assigned_at = now
    tour.language_accepted = False
    return True


def declines_of(tour_id: int) -> tuple:
    """Where the audit log holds the tour's declines (the guide who declined, the reason in the details)."""
    return (AuditEntry.object_type == "tour", AuditEntry.object_id == tour_id, AuditEntry.action == "tour_declined")


def declined_by(session: Session, tour_id: int) -> set[int]:
    """The guides who declined the tour."""
    return set(session.execute(
        select(AuditEntry.actor_id).where(*declines_of(tour_id), AuditEntry.actor_id.is_not(None))
    ).scalars())


def _reassign_or_flag(session: Session, actor: User | None, tour: Tour, now: datetime, action: str,
                      reason: str) -> str:
    """Give the tour to another free guide who speaks the partner's language, or mark it needs_guide (the
    coordinator then decides, also about a guide who does not speak it). Returns 'reassigned' or
    'needs_guide'."""
    leaving = tour.guide_id
    if _speaker_takes_over(session, tour, now):
        tour.status = "confirmed"
        outcome = "reassigned"
    else:
        tour.guide_id = None
        tour.status = "needs_guide"
        tour.language_accepted = False
        outcome = "needs_guide"
    _changed(tour, now)
    session.flush()
    record(session, actor, action, tour, city_id=tour.city_id, reason=reason, previous_guide_id=leaving,
           guide_id=tour.guide_id, outcome=outcome)
    queue_tour_messages(session, tour, "reassigned" if outcome == "reassigned" else "needs_guide",
                        previous_guide_id=leaving, actor_id=actor.id if actor else None)
    return outcome


def decline_tour(session: Session, guide: User, tour: Tour, reason: str, now: datetime | None = None) -> str:
    now = now or utcnow()
    if tour.guide_id != guide.id or tour.status != "confirmed":
        raise TourError("not_changeable")
    if tour.starts_at <= now:
        raise TourError("started")
    tour_id = tour.id

    def attempt() -> str:
        t = _locked_tour(session, tour_id)
        if t.guide_id != guide.id or t.status != "confirmed":
            raise TourError("not_changeable")
        return _reassign_or_flag(session, guide, t, now, "tour_declined", reason)

    return _retrying(session, attempt, gave_up="busy")


def release_tours_of_absent_guide(session: Session, actor: User, guide: User, tours: list[Tour],
                                  now: datetime | None = None) -> list[dict]:
    """An absence was entered over these tours (inside the caller's transaction): reassign each or flag it."""
    now = now or utcnow()
    results: list[dict] = []
    if not tours:
        return results
    # All of them locked first, in one statement in the order of their ids: saving one fires the trigger that
    # counts the guide's feed version, which locks the guide's row; locking the next tour after that would
    # wait for a change of it that waits for the guide's row (a deadlock). As they are now, not as listed.
    locked = {t.id: t for t in session.execute(
        select(Tour).where(Tour.id.in_([t.id for t in tours])).order_by(Tour.id)
        .with_for_update().execution_options(populate_existing=True)
    ).scalars()}
    for listed in tours:
        tour = locked[listed.id]
        if tour.status != "confirmed" or tour.guide_id != guide.id or tour.ends_at <= now:
            continue
        outcome = _reassign_or_flag(session, actor, tour, now, "tour_released_absence", "absence")
        results.append({"tour": tour, "outcome": outcome})
    return results


def release_tours_of_deactivated_guide(session: Session, actor: User, guide: User, now: datetime | None = None
                                       ) -> list[dict]:
    """A guide's account is deactivated (inside the caller's transaction, which saves the account): each of
    their tours to come goes to another free guide or is marked needs_guide, as for an absence; none stays
    with nobody to give it. The order of locks is that of every change of tours: their tours first, then the
    guide's row (hours.calendar_changed, which also makes a booking of the guide at this moment read again and
    find them inactive); the tours are read once more behind that lock (a booking that held it has added
    one)."""
    now = now or utcnow()
    coming = (select(Tour).where(Tour.guide_id == guide.id, Tour.status == "confirmed", Tour.starts_at > now)
              .order_by(Tour.id).with_for_update().execution_options(populate_existing=True))
    session.execute(coming).all()
    guide.active = False  # not a guide any reassignment may choose
    calendar_changed(session, guide.id)
    return [{"tour": tour, "outcome": _reassign_or_flag(session, actor, tour, now, "tour_released_inactive",
                                                        "inactive")}
            for tour in session.execute(coming).scalars().all()]


def enter_absence(session: Session, actor: User, guide: User, first_day: date, last_day: date,
                  start: time | None, end: time | None, reason: str, now: datetime | None = None
                  ) -> tuple[Absence, list[dict]]:
    """An absence of the guide, and what became of the tours it hits (release_tours_of_absent_guide), in one
    transaction. The order of locks is that of every change of tours: the tours the absence hits first, then
    the guide's row (hours.calendar_changed, which also makes a booking of the guide at this moment wait or
    read their calendar again); the tours are read once more behind the guide's lock (a booking that held it
    has added one). A deadlock with another change is tried again. Raises HoursError for the absence's
    fields, TourError ``busy`` after MAX_ATTEMPTS lost rounds."""
    now = now or utcnow()
    city = session.get(City, guide.city_id)

    def attempt() -> tuple[Absence, list[dict]]:
        starts_at, ends_at = checked_absence(city, first_day, last_day, start, end)
        hit = [t.id for t in tours_hit_by(session, guide.id, starts_at, ends_at)]
        if hit:
            session.execute(select(Tour.id).where(Tour.id.in_(hit)).order_by(Tour.id).with_for_update()).all()
        absence = add_absence(session, actor, guide, first_day, last_day, start, end, reason)
        released = release_tours_of_absent_guide(session, actor, guide,
                                                 tours_hit_by(session, guide.id, starts_at, ends_at), now)
        return absence, released

    return _retrying(session, attempt, gave_up="busy")


def assign_tour(session: Session, coordinator: User, tour: Tour, guide_id: int, reason: str,
                now: datetime | None = None) -> Tour:
    """A coordinator assigns or reassigns by hand; the guide must be free (limits included)."""
    now = now or utcnow()
    if tour.status not in ("confirmed", "needs_guide"):
        raise TourError("not_changeable")
    tour_id = tour.id

    def attempt() -> Tour:
        t = _locked_tour(session, tour_id)
        if t.status not in ("confirmed", "needs_guide"):
            raise TourError("not_changeable")
        guide = session.get(User, guide_id)
        if guide is None or guide.role != Role.GUIDE or guide.city_id != t.city_id or not guide.active:
            raise TourError("unknown_guide", "guide")
        if t.guide_id == guide_id:
            raise TourError("same_guide", "guide")
        city = session.get(City, t.city_id)
        _lock_guide(session, guide_id)
        data = load_engine_input(session, city, t.starts_at, t.ends_at, exclude_tour_id=t.id, guide_ids=[guide_id],
                                 covering=True)
        if t.starts_at <= now:
            raise TourError("started")
        # A coordinator may assign inside the lead time; everything else must hold.
        rules = replace(data.rules, lead_time=timedelta(0))
        if guide_id not in free_guides(rules, data.guides, t.starts_at, t.ends_at, now):
            raise TourError("guide_not_free", "guide")
        previous = t.guide_id
        t.guide_id = guide_id
        t.assigned_at = now
        t.status = "confirmed"
        # Chosen knowingly (the form says who does not speak the partner's language): no attention needed.
        t.language_accepted = bool(t.partner_language) and t.partner_language not in guide.languages
        _changed(t, now)
        session.flush()
        record(session, coordinator, "tour_assigned", t, city_id=t.city_id, guide_id=guide_id,
               previous_guide_id=previous, reason=reason)
        queue_tour_messages(session, t, "reassigned", previous_guide_id=previous)
        return t

    return _retrying(session, attempt)


def accept_language(session: Session, coordinator: User, tour: Tour, now: datetime | None = None) -> Tour:
    """A coordinator keeps the guide who does not speak the partner's language (say, the partner agreed on the
    phone): the attention lists leave the tour out until its guide or language changes. Nothing changes for
    guide and partner, so no new sequence and no mail; the audit log says who decided."""
    now = now or utcnow()
    tour_id = tour.id

    def attempt() -> Tour:
        t = _locked_tour(session, tour_id)
        if t.status not in ("confirmed", "needs_guide") or t.ends_at <= now:
            raise TourError("not_changeable")
        if t.language_accepted:
            raise TourError("already_kept")  # a second click, or another coordinator at the same moment
        if not t.guide_lacks_language:  # (a tour that needs a guide has none to keep)
            raise TourError("language_spoken")  # meanwhile another guide, or another language
        t.language_accepted = True
        record(session, coordinator, "tour_language_accepted", t, city_id=t.city_id, guide_id=t.guide_id,
               language=t.partner_language)
        return t

    return _retrying(session, attempt, gave_up="busy")


def mark_outcome(session: Session, guide: User, tour: Tour, outcome: str, now: datetime | None = None) -> Tour:
    now = now or utcnow()
    if outcome not in ("done", "no_show"):
        raise TourError("bad_outcome")
    if tour.guide_id != guide.id or tour.status not in ("confirmed", "done", "no_show"):
        raise TourError("not_changeable")
    if tour.starts_at > now:
        raise TourError("not_yet")
    tour_id = tour.id

    def attempt() -> Tour:
        t = _locked_tour(session, tour_id)
        if t.guide_id != guide.id or t.status not in ("confirmed", "done", "no_show"):
            raise TourError("not_changeable")
        t.status = outcome
        _changed(t, now)
        record(session, guide, "tour_marked", t, city_id=t.city_id, outcome=outcome)
        return t

    return _retrying(session, attempt, gave_up="busy")


def update_partner_wishes(session: Session, tour: Tour, interests: list[str], language: str, people: int,
                          now: datetime | None = None) -> str | None:
    """The partner tells their interests, language and number of people on their page. A language their
    guide does not speak hands the tour to a free guide who does (as a decline would, returns 'reassigned');
    when nobody who speaks it is free, or the tour is within the lead time, the guide keeps the tour and the
    pages say that they do not speak it (returns 'guide_lacks_language'): a tour in another language is better
    than none."""
    now = now or utcnow()
    if tour.status not in ("confirmed", "needs_guide") or tour.ends_at <= now:
        raise TourError("not_changeable")
    tour_id = tour.id

    def attempt() -> str | None:
        # Locked (PostgreSQL): a change of the tour at the same moment waits for this one, or this for it.
        t = _locked_tour(session, tour_id)
        if t.status not in ("confirmed", "needs_guide") or t.ends_at <= now:
            raise TourError("not_changeable")
        language_changed = language != t.partner_language
        lacked = t.guide_lacks_language  # a tour in a language its guide does not speak, until now
        if not language_changed and ",".join(interests) == t.interests and people == t.people:
            return None  # saved as it was: no new sequence, no entry, nothing to tell anybody
        t.interests = ",".join(interests)
        t.partner_language = language
        t.people = people
        if language_changed:
            t.language_accepted = False  # the coordinator kept the guide for another language
        outcome = None
        previous = t.guide_id
        if language_changed and t.guide_lacks_language and t.starts_at > now:
            # Inside the lead time the guide may be on the way already: they keep the tour (and are told),
            # rather than two guides coming, or none; the coordinator sees it and may still assign another.
            outcome = ("reassigned" if not t.within_lead_time(now) and _speaker_takes_over(session, t, now)
                       else "guide_lacks_language")
        _changed(t, now)
        session.flush()
        details = {"outcome": outcome, "previous_guide_id": previous, "guide_id": t.guide_id} if outcome else {}
        record(session, None, "tour_partner_updated", t, city_id=t.city_id, **details)
        if outcome == "reassigned":
            queue_tour_messages(session, t, "reassigned", previous_guide_id=previous)
        elif outcome == "guide_lacks_language":
            queue_tour_messages(session, t, "language")  # the guide (only) learns of it by mail
        elif language_changed and lacked and not t.guide_lacks_language:
            queue_tour_messages(session, t, "language_spoken")  # and that it is one they speak again
        return outcome

    return _retrying(session, attempt, gave_up="busy")
