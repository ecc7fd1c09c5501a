"""The checker core for HTTP_GET's URL walk, MISC_CHECK's exit statuses and weights, and
FILE_CHECK's track_file numbers (keepalived 2.2.7's check_http.c, check_misc.c, track_file.c)."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from pykeepalived.lvs.checker import (
    WEIGHT_FAULT,
    CheckerState,
    Outcome,
    Step,
    parse_track_file_value,
    track_file_status,
)
from pykeepalived.lvs.model import (
    Checker,
    Connection,
    FileCheck,
    HttpCheck,
    HttpUrl,
    MiscCheck,
    Script,
    Timing,
)

RS = "[192.0.2.11]:tcp:80"
VS = "[192.0.2.100]:tcp:80"
OK = Outcome(True, "HTTP status 200")
TIMEOUT = Outcome(False, "connect timeout", failure="Timeout connecting")


class Player:
    def __init__(self, checker: Checker, **kwargs: object) -> None:
        self.state = CheckerState(checker, rs_name=RS, vs_name=VS, **kwargs)  # type: ignore[arg-type]
        self.now = 0.0

    def __call__(self, outcome: Outcome, *, took: float = 0.0) -> Step:
        started = self.now
        self.now += took
        step = self.state.on_result(self.now, outcome, started=started)
        self.now += step.delay
        return step


def http(*paths: str, fast: bool = False, **timing: object) -> HttpCheck:
    urls = tuple(HttpUrl(path=p, digest="0" * 32 if p.endswith(".md5") else None)
                 for p in paths)
    return HttpCheck(conn=Connection(ip_address("192.0.2.11"), 80), urls=urls,
                     fast_recovery=fast,
                     timing=Timing(delay_loop=10.0, delay_before_retry=3.0, **timing))  # type: ignore[arg-type]


def test_http_checks_one_url_per_delay_loop() -> None:
    play = Player(http("/a", "/b", retry=1))
    step = play(OK)
    assert step.lines == () and step.url_index == 1 and step.delay == 10.0
    assert not step.first_run
    step = play(OK)
    assert step.lines == (f"Remote Web server {RS} succeed on service.",)
    assert step.first_run and step.transition is None and step.url_index == 0
    assert play(OK).url_index == 1


def test_http_first_failure_says_after_retries() -> None:
    """timeout_epilog sets has_run before the epilog: the first failure already reads
    'failed after N retries' (and needs no retries, retry_it starting at retry)."""
    step = Player(http("/a", retry=2))(TIMEOUT)
    assert step.lines == (f"HTTP_CHECK on service {RS} failed after 2 retries.",)
    assert step.transition == "down" and step.delay == 10.0
    zero = Player(http("/a", retry=0))(TIMEOUT)
    assert zero.lines == (f"HTTP_CHECK on service {RS} failed.",)


def test_http_retry_fail_and_recover_from_the_first_url() -> None:
    play = Player(http("/a", "/b.md5", retry=1))
    play(OK)
    play(OK)
    assert play(OK).url_index == 1
    retry = play(TIMEOUT)
    assert retry.lines == () and retry.delay == 3.0 and retry.url_index == 1
    down = play(TIMEOUT)
    assert down.lines == (f"HTTP_CHECK on service {RS} failed after 1 retries.",)
    assert down.transition == "down" and down.delay == 10.0  # max(delay_before_retry, loop)
    # the failed URL is tried again, at delay_loop, silently
    again = play(TIMEOUT)
    assert again.lines == () and again.url_index == 1 and again.delay == 10.0
    # it passes: start over from the first URL, logging each success while down
    step = play(Outcome(True, "ok"))
    assert step.lines == (f"MD5 digest success to {RS} url(/b.md5)",)
    assert step.url_index == 0 and step.transition is None
    step = play(OK)
    assert step.lines == (f"HTTP status code success to {RS} url(/a)",) and step.url_index == 1
    step = play(OK)
    assert step.lines == (f"MD5 digest success to {RS} url(/b.md5)",
                          f"Remote Web server {RS} succeed on service.")
    assert step.transition == "up"


def test_http_fast_recovery_checks_urls_back_to_back() -> None:
    play = Player(http("/a", "/b", "/c", fast=True, retry=0, alpha=True))
    delays = [play(OK).delay for _ in range(3)]
    assert delays == [0.0, 0.0, 10.0]
    assert play.state.is_up


def test_http_log_all_failures_and_content_length_line() -> None:
    play = Player(http("/a", retry=1, log_all_failures=True))
    play(OK)
    step = play(Outcome(False, "HTTP status 503", failure="HTTP status code error to"))
    assert step.lines == (f"HTTP status code error to server {RS}.",)
    short = Outcome(True, "ok", content_length=(100, 60))
    expected = (f"http_check for RS {RS} VS {VS} url /a: content_length (100) does not match "
                "received bytes (60)")
    assert play(short).lines == (expected,)
    assert play(short).lines == ()  # same difference: logged once
    assert play(Outcome(True, "ok", content_length=(100, 100))).lines == ()
    assert play(short).lines == (expected,)


def misc(*, dynamic: bool = False, retry: int = 0, **timing: object) -> MiscCheck:
    """retry defaults to 0, keepalived's MISC_CHECK default."""
    return MiscCheck(path=Script("/usr/local/bin/check web"), dynamic=dynamic,
                     timing=Timing(delay_loop=10.0, delay_before_retry=2.0, retry=retry,
                                   **timing))  # type: ignore[arg-type]


def exited(code: int, dynamic: bool = False) -> Outcome:
    ok = code == 0 or (dynamic and 2 <= code <= 255)
    return Outcome(ok, f"exit status {code}", exit=("exited", code))


HEAD = f"Misc check for [{RS} VS {VS}] by [/usr/local/bin/check]"


def test_misc_lines_and_retry_messages() -> None:
    play = Player(misc(retry=2, log_all_failures=True))
    assert play(exited(0)).lines == (f"{HEAD} succeeded.",)
    assert play(exited(1)).lines == (f"{HEAD} failed, will do 2 retries (exited with status 1).",)
    assert play(exited(1)).lines == (f"{HEAD} failed on retry 1/2 (exited with status 1).",)
    step = play(exited(1))
    assert step.lines == (f"{HEAD} failed after 2 retries (exited with status 1).",)
    assert step.transition == "down"
    assert play(exited(1)).lines == ()  # down: nothing more
    assert play(exited(0)).transition == "up"


def test_misc_without_log_all_failures_is_quiet_until_down() -> None:
    play = Player(misc(retry=1))
    play(exited(0))
    assert play(exited(3)).lines == ()
    step = play(Outcome(False, "timed out", exit=("timed out", 15)))
    assert step.lines == (f"{HEAD} timed out after 1 retry.",) and step.transition == "down"
    first = Player(misc())(Outcome(False, "signal", exit=("signaled", 9)))
    assert first.lines == (f"{HEAD} failed with retry disabled (due to signal 9).",)


def test_misc_next_run_counts_from_the_start_of_the_last() -> None:
    play = Player(misc(retry=1))
    step = play(exited(0), took=4.0)
    assert step.delay == pytest.approx(6.0)
    retry = play(exited(1), took=0.5)
    assert retry.delay == pytest.approx(1.5)  # delay_before_retry from the start
    late = play(exited(0), took=30.0)
    assert 0 < late.delay < 1e-3  # overdue: at once


def test_misc_dynamic_weights() -> None:
    play = Player(misc(dynamic=True), rs_weight=5)
    first = play(exited(12, True))
    assert first.weight_offset == 5 and first.weight == 10  # exit 12 -> weight 10
    assert first.lines == (f"{HEAD} succeeded.",)
    assert play(exited(12, True)).weight_offset is None  # unchanged
    assert play(exited(2, True)).weight == 0
    assert play(exited(0, True)).weight == 5  # back to the configured weight
    play(exited(30, True))
    down = play(exited(1, True))
    assert down.transition == "down" and down.weight_offset == 0
    assert down.lines == (f"{HEAD} failed with retry disabled (exited with status 1).",)


def file_check(weight: int = 0, reverse: bool = False) -> FileCheck:
    return FileCheck(track_file="tf", path="/run/tf", weight=weight, reverse=reverse)


def value(v: int | None) -> Outcome:
    return Outcome(v is not None, "file", weight=v)


def test_file_check_weight_zero_is_a_fault_switch() -> None:
    play = Player(file_check())
    start = play(value(0))
    assert start.transition is None and start.first_run and start.is_up
    step = play(value(7))
    assert step.detail_lines == (f"({RS}): tracked file tf now FAULT state",)
    assert step.transition == "down" and step.lines == ()
    assert play(value(3)).transition is None  # still non-zero
    step = play(value(0))
    assert step.detail_lines == (f"({RS}): tracked file tf leaving FAULT state",)
    assert step.transition == "up"
    assert play(value(None)).transition is None  # unreadable: keep the last value


def test_file_check_starts_down_and_reverse() -> None:
    start = Player(file_check())(value(1))
    assert start.transition == "down" and start.first_run and start.detail_lines == ()
    rev = Player(file_check(reverse=True))
    assert rev(value(0)).transition == "down"
    assert rev(value(5)).transition == "up"


def test_file_check_weight_multiplies() -> None:
    play = Player(file_check(weight=10), rs_weight=3)
    start = play(value(2))
    assert start.weight_offset == 20 and start.weight == 23
    assert play(value(-1)).weight_offset == -10
    fault = play(value(-(2**31)))
    assert fault.transition == "down" and fault.weight_offset == 0
    back = play(value(4))
    assert back.transition == "up" and back.weight_offset == 40
    assert track_file_status(2**30, 10, False) == 2**31 - 1
    assert track_file_status(1, 5, True) == -5
    assert track_file_status(0, 0, False) == 0 and track_file_status(4, 0, False) == WEIGHT_FAULT


@pytest.mark.parametrize(("data", "expected"), [
    (b"  42\n", (42, True)), (b"0x1f", (31, True)), (b"010", (8, True)), (b"-5 junk", (-5, True)),
    (b"abc", (0, True)), (b"+7", (7, True)), (b"2147483648", (2**31, True)),
    (b"2147483649", (2**31 + 1, False)), (b"-2147483649", (-(2**31) - 1, False)),
    (b"99999999999999999999999", (2**63 - 1, False)), (b"0x", (0, True)),
])
def test_track_file_numbers_read_like_strtol(data: bytes, expected: tuple[int, bool]) -> None:
    assert parse_track_file_value(data) == expected
