"""Which free guide gets the tour: the assignment rule of PRODUCT.md, pure."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["Candidate", "choose_guide", "rank_guides"]

_NEVER = datetime.min.replace(tzinfo=UTC)  # sorts before any real assignment


@dataclass(frozen=True, slots=True)
class Candidate:
    """A guide who is free for the tour, with what the rule weighs."""

    guide_id: int
    speaks_language: bool
    tours_in_four_weeks: int  # tours in the four weeks around the date (the caller counts)
    last_assigned_at: datetime | None  # aware; None = never assigned


def choose_guide(candidates: Iterable[Candidate]) -> int | None:
    """The guide id the rule picks, or None without candidates.

    Guides who speak the partner's language come first; among them the fewest tours in the four weeks
    around the date, then the least recently assigned (never assigned before anyone else), then the lowest
    guide id, so the choice never depends on the order of ``candidates``.
    """
    best = min(candidates, key=_rank, default=None)
    return None if best is None else best.guide_id


def rank_guides(candidates: Iterable[Candidate]) -> list[int]:
    """All candidates' guide ids in the rule's order: the one ``choose_guide`` picks first."""
    return [c.guide_id for c in sorted(candidates, key=_rank)]


def _rank(candidate: Candidate) -> tuple[bool, int, datetime, int]:
    last = candidate.last_assigned_at
    if last is None:
        last = _NEVER
    elif last.tzinfo is None or last.utcoffset() is None:
        raise ValueError(f"last_assigned_at of guide {candidate.guide_id} must be timezone-aware")
    else:
        # In UTC, so that comparison is by instant even within one zone's repeated hour.
        last = last.astimezone(UTC)
    return (not candidate.speaks_language, candidate.tours_in_four_weeks, last, candidate.guide_id)
