"""The assignment rule: language first, then fewest tours in four weeks, then least recently assigned."""

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tourbook.assignment import Candidate, choose_guide, rank_guides

BERLIN = ZoneInfo("Europe/Berlin")
MAY = datetime(2026, 5, 1, 10, tzinfo=UTC)


def candidate(guide_id, speaks=True, tours=0, last=MAY) -> Candidate:
    return Candidate(guide_id, speaks_language=speaks, tours_in_four_weeks=tours, last_assigned_at=last)


def test_nobody_to_choose_from():
    assert choose_guide([]) is None
    assert choose_guide(iter([])) is None


def test_a_single_candidate_gets_the_tour_even_without_the_language():
    assert choose_guide([candidate(4, speaks=False, tours=9)]) == 4


def test_a_guide_who_speaks_the_language_wins_over_a_less_busy_one_who_does_not():
    assert choose_guide([candidate(1, speaks=False, tours=0), candidate(2, speaks=True, tours=5)]) == 2


def test_among_speakers_the_fewest_tours_in_four_weeks_wins():
    candidates = [candidate(1, tours=3), candidate(2, tours=1), candidate(3, tours=2)]
    assert choose_guide(candidates) == 2


def test_without_any_speaker_the_fewest_tours_wins():
    candidates = [candidate(1, speaks=False, tours=3), candidate(2, speaks=False, tours=1)]
    assert choose_guide(candidates) == 2


def test_equal_load_goes_to_the_least_recently_assigned():
    candidates = [
        candidate(1, tours=2, last=MAY),
        candidate(2, tours=2, last=MAY - timedelta(days=3)),
        candidate(3, tours=2, last=MAY + timedelta(hours=1)),
    ]
    assert choose_guide(candidates) == 2


def test_recency_does_not_beat_load():
    candidates = [candidate(1, tours=2, last=MAY - timedelta(days=300)), candidate(2, tours=1, last=MAY)]
    assert choose_guide(candidates) == 2


def test_a_guide_never_assigned_comes_before_anyone_assigned_before():
    candidates = [
        candidate(1, tours=0, last=datetime(2000, 1, 1, tzinfo=UTC)),
        candidate(2, tours=0, last=None),
    ]
    assert choose_guide(candidates) == 2


def test_full_tie_goes_to_the_lowest_guide_id():
    assert choose_guide([candidate(9), candidate(3), candidate(5)]) == 3
    assert choose_guide([candidate(9, last=None), candidate(3, last=None)]) == 3


def test_last_assignment_is_compared_as_an_instant_across_zones_and_the_repeated_hour():
    # 02:30 CEST (first occurrence) is an hour before 02:30 CET (second occurrence) on 25 October.
    first = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN, fold=0)
    second = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN, fold=1)
    assert choose_guide([candidate(1, last=second), candidate(2, last=first)]) == 2
    assert choose_guide([candidate(1, last=first), candidate(2, last=second)]) == 1
    # 11:00 in Berlin (summer) is 09:00 UTC, earlier than 10:00 UTC.
    in_berlin = datetime(2026, 5, 1, 11, tzinfo=BERLIN)
    assert choose_guide([candidate(1, last=MAY), candidate(2, last=in_berlin)]) == 2


def test_the_choice_does_not_depend_on_the_order_of_candidates():
    candidates = [
        candidate(7, speaks=False, tours=0, last=None),
        candidate(3, tours=2, last=MAY),
        candidate(5, tours=2, last=MAY - timedelta(days=1)),
        candidate(1, tours=2, last=MAY - timedelta(days=1)),
        candidate(2, tours=4, last=None),
    ]
    rng = random.Random(4)
    for _ in range(20):
        rng.shuffle(candidates)
        assert choose_guide(candidates) == 1


def test_naive_last_assignment_is_rejected():
    with pytest.raises(ValueError, match="timezone-aware"):
        choose_guide([candidate(1, last=datetime(2026, 5, 1, 10))])


def test_the_ranking_lists_every_candidate_in_the_rules_order_with_the_choice_first():
    candidates = [
        candidate(5, speaks=False, tours=0),
        candidate(4, tours=2, last=MAY),
        candidate(3, tours=2, last=None),
        candidate(2, tours=1),
        candidate(1, tours=2, last=MAY),
    ]
    ranked = rank_guides(random.sample(candidates, len(candidates)))
    assert ranked == [2, 3, 1, 4, 5]
    assert ranked[0] == choose_guide(candidates)
