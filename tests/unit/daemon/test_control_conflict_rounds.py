"""Split-brain bookkeeping: when a competing claim becomes a conflict, and when it clears."""

from __future__ import annotations

from pykeepalived.daemon.conflict import ADDRESS, ADVERT, ConflictBook

OTHER = "02:00:00:00:00:02"


def rounds(book: ConflictBook, *, master_since: float | None, start: float, n: int,
           evidence: bool) -> list:
    results = []
    for i in range(n):
        if evidence:
            book.saw(ADDRESS, "192.0.2.100", OTHER)
        results.append(book.close_round(master_since=master_since, now=start + i + 1,
                                        wall=1000.0 + i))
    return results


def test_two_consecutive_rounds_of_evidence_make_one_conflict() -> None:
    book = ConflictBook("VI_1")
    # first round opens when the instance is MASTER; evidence before that is not counted
    book.saw(ADDRESS, "192.0.2.100", OTHER)
    assert book.close_round(master_since=0.0, now=1.0, wall=1.0).new == []
    first, second, third = rounds(book, master_since=0.0, start=1.0, n=3, evidence=True)
    assert first.new == []
    assert [c.describe() for c in second.new] == [f"192.0.2.100 also held by {OTHER}"]
    assert third.new == [] and book.total == 1 and len(book.active) == 1


def test_a_single_round_of_evidence_is_a_hand_over_not_a_conflict() -> None:
    book = ConflictBook("VI_1")
    book.close_round(master_since=0.0, now=1.0, wall=1.0)
    rounds(book, master_since=0.0, start=1.0, n=1, evidence=True)
    results = rounds(book, master_since=0.0, start=2.0, n=3, evidence=False)
    assert all(r.new == [] and r.cleared == [] for r in results)
    assert book.total == 0


def test_evidence_in_a_round_that_began_before_mastership_does_not_count() -> None:
    book = ConflictBook("VI_1")
    book.close_round(master_since=0.0, now=1.0, wall=1.0)
    book.saw(ADDRESS, "192.0.2.100", OTHER)
    # became MASTER (again) at 1.5, inside the round that started at 1.0
    assert book.close_round(master_since=1.5, now=2.0, wall=2.0).new == []
    book.saw(ADDRESS, "192.0.2.100", OTHER)
    assert book.close_round(master_since=1.5, now=3.0, wall=3.0).new == []
    book.saw(ADDRESS, "192.0.2.100", OTHER)
    assert len(book.close_round(master_since=1.5, now=4.0, wall=4.0).new) == 1


def test_clean_round_clears_and_asks_for_announcement_while_master() -> None:
    book = ConflictBook("VI_1")
    book.close_round(master_since=0.0, now=1.0, wall=1.0)
    rounds(book, master_since=0.0, start=1.0, n=2, evidence=True)
    book.saw(ADDRESS, "192.0.2.100", OTHER)
    book.saw(ADVERT, "192.0.2.2", "priority 100 (ours 100)")
    book.close_round(master_since=0.0, now=4.0, wall=4.0)
    book.saw(ADVERT, "192.0.2.2", "priority 100 (ours 100)")
    partial = book.close_round(master_since=0.0, now=5.0, wall=5.0)
    # the address claim is gone but the advert one is now confirmed: no announcement yet
    assert [c.kind for c in partial.cleared] == [ADDRESS]
    assert [c.kind for c in partial.new] == [ADVERT]
    assert partial.announce is False and [c.kind for c in book.active.values()] == [ADVERT]
    last = book.close_round(master_since=0.0, now=6.0, wall=6.0)
    assert [c.kind for c in last.cleared] == [ADVERT] and last.announce is True
    assert book.total == 2 and not book.active


def test_leaving_master_clears_without_announcement() -> None:
    book = ConflictBook("VI_1")
    book.close_round(master_since=0.0, now=1.0, wall=1.0)
    rounds(book, master_since=0.0, start=1.0, n=2, evidence=True)
    assert book.active
    book.saw(ADDRESS, "192.0.2.100", OTHER)
    result = book.close_round(master_since=None, now=4.0, wall=4.0)
    assert len(result.cleared) == 1 and result.announce is False and result.new == []
    assert book.round_start is None
    book.saw(ADDRESS, "192.0.2.100", OTHER)  # not MASTER: ignored
    assert book.evidence == {}
