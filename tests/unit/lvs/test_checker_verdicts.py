"""The checker core's verdicts for the connection checkers: TCP, UDP, PING, DNS, SMTP.

Each test plays a sequence of probe outcomes into a CheckerState, moving a plain ``now`` by the
delays the core asks for, and pins down keepalived 2.2.7's lines, delays and transitions.
"""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address

from pykeepalived.lvs.checker import BOOTSTRAP_DELAY, CheckerState, Outcome, Step
from pykeepalived.lvs.model import (
    Checker,
    Connection,
    DnsCheck,
    PingCheck,
    SmtpCheck,
    TcpCheck,
    Timing,
    UdpCheck,
)

RS = "[192.0.2.11]:tcp:80"
VS = "[192.0.2.100]:tcp:80"
CONN = Connection(ip_address("192.0.2.11"), 80)
OK = Outcome(True, "ok")


def fail(line: str | None = None) -> Outcome:
    return Outcome(False, "connection refused", failure=line)


TCP_FAIL = fail(f"TCP connection to {RS} failed.")
TCP_TIMEOUT = Outcome(False, "timeout after 2.0 s", failure=f"TCP connection to {RS} timeout.")


class Player:
    """Feeds outcomes with a fake clock that advances by each step's delay."""

    def __init__(self, checker: Checker, **kwargs: object) -> None:
        self.state = CheckerState(checker, rs_name=RS, vs_name=VS, **kwargs)  # type: ignore[arg-type]
        self.now = 100.0

    def __call__(self, outcome: Outcome) -> Step:
        step = self.state.on_result(self.now, outcome, started=self.now)
        self.now += step.delay
        return step


def tcp(**timing: object) -> TcpCheck:
    return TcpCheck(conn=CONN, timing=Timing(delay_loop=10.0, **timing))  # type: ignore[arg-type]


def test_first_success_logs_once_and_changes_nothing() -> None:
    play = Player(tcp())
    step = play(OK)
    assert step.lines == (f"TCP connection to {RS} success.",)
    assert step.transition is None and step.first_run and not step.notify_initial
    assert step.delay == 10.0 and step.is_up
    again = play(OK)
    assert again.lines == () and not again.first_run and again.delay == 10.0


def test_first_failure_is_enough_even_with_retries() -> None:
    """keepalived starts retry_it at retry: no retries before the first verdict."""
    step = Player(tcp(retry=3))(TCP_FAIL)
    assert step.lines == (f"TCP_CHECK on service {RS} failed.",)
    assert step.transition == "down" and step.first_run and step.delay == 10.0


def test_failure_after_retries_then_recovery() -> None:
    play = Player(tcp(retry=2, delay_before_retry=1.5))
    play(OK)
    first = play(TCP_FAIL)
    assert first.lines == () and first.delay == 1.5 and first.transition is None
    second = play(TCP_TIMEOUT)
    assert second.lines == () and second.delay == 1.5
    third = play(TCP_FAIL)
    assert third.lines == (f"TCP_CHECK on service {RS} failed after 2 retries.",)
    assert third.transition == "down" and third.delay == 10.0 and not third.is_up
    # down: TCP_CHECK still retries, silently
    assert [play(TCP_FAIL).delay for _ in range(3)] == [1.5, 1.5, 10.0]
    back = play(OK)
    assert back.lines == (f"TCP connection to {RS} success.",)
    assert back.transition == "up" and back.delay == 10.0


def test_one_success_between_failures_resets_the_retries() -> None:
    play = Player(tcp(retry=1))
    play(OK)
    assert play(TCP_FAIL).delay == 1.0
    assert play(OK).lines == ()
    assert play(TCP_FAIL).transition is None  # a fresh retry, not the second failure
    assert play(TCP_FAIL).transition == "down"


def test_retry_zero_fails_at_once_with_the_short_line() -> None:
    play = Player(tcp(retry=0))
    play(OK)
    step = play(TCP_FAIL)
    assert step.lines == (f"TCP_CHECK on service {RS} failed.",)
    assert step.transition == "down" and step.delay == 10.0


def test_log_all_failures_logs_each_failure_while_up_only() -> None:
    for play in (Player(tcp(retry=1, log_all_failures=True)),
                 Player(tcp(retry=1), log_all_failures=True)):
        play(OK)
        assert play(TCP_TIMEOUT).lines == (f"TCP connection to {RS} timeout.",)
        assert play(TCP_FAIL).lines == (f"TCP connection to {RS} failed.",
                                        f"TCP_CHECK on service {RS} failed after 1 retries.")
        assert play(TCP_FAIL).lines == ()  # down now
    quiet = Player(tcp(retry=1))
    quiet(OK)
    assert quiet(TCP_TIMEOUT).lines == ()


def test_alpha_starts_down() -> None:
    play = Player(tcp(alpha=True))
    assert not play.state.is_up
    step = play(OK)
    assert step.lines == (f"TCP connection to {RS} success.",)
    assert step.transition == "up" and step.first_run and not step.notify_initial

    failing = Player(tcp(alpha=True))
    step = failing(TCP_FAIL)
    # first verdict, no change: keepalived still runs the real server's notify (down)
    assert step.lines == (f"TCP_CHECK on service {RS} failed.",)
    assert step.transition is None and step.notify_initial and step.first_run


def test_skipped_attempt_only_reschedules() -> None:
    play = Player(tcp(retry=1))
    play(OK)
    step = play(Outcome(False, "bind", skipped=True,
                        lines=("TCP socket bind failed. Rescheduling.",)))
    assert step.lines == ("TCP socket bind failed. Rescheduling.",)
    assert step.delay == 10.0 and step.transition is None and play.state.retry_it == 0


def test_first_delay_is_bootstrap_plus_random_warmup() -> None:
    assert CheckerState(tcp(), rs_name=RS).first_delay(0.5) == BOOTSTRAP_DELAY + 5.0
    assert CheckerState(tcp(warmup=4.0), rs_name=RS).first_delay(1.0) == BOOTSTRAP_DELAY + 4.0
    assert CheckerState(tcp(warmup=0.0), rs_name=RS).first_delay(0.7) == BOOTSTRAP_DELAY
    assert CheckerState(tcp(warmup=0.0), rs_name=RS).first_delay(0.7, bootstrap=0) == 0.0


def udp(**timing: object) -> UdpCheck:
    return UdpCheck(conn=CONN, timing=Timing(delay_loop=10.0, **timing))  # type: ignore[arg-type]


def test_udp_retries_only_while_up() -> None:
    play = Player(udp(retry=1, delay_before_retry=2.0, log_all_failures=True))
    assert play(OK).lines == (f"UDP connection to {RS} success.",)
    udp_fail = fail(f"UDP connection to {RS} failed.")
    assert play(udp_fail).delay == 2.0
    step = play(udp_fail)
    assert step.lines == (f"UDP connection to {RS} failed.",
                          f"UDP_CHECK on service {RS} failed after 1 retries.")
    assert step.transition == "down"
    assert play(udp_fail).delay == 10.0  # no retries while down
    assert play(OK).transition == "up"


def test_ping_lines_name_the_virtual_server_after_retries() -> None:
    play = Player(PingCheck(conn=CONN, timing=Timing(delay_loop=5.0, retry=1)))
    assert play(OK).lines == (f"ICMP connection to {RS} success.",)
    play(fail())
    step = play(fail())
    assert step.lines == (f"ICMP CHECK on service {RS} of {VS} failed after 1 retries.",)
    first = Player(PingCheck(conn=CONN))(fail())
    assert first.lines == (f"ICMP CHECK on service {RS} failed.",)


def dns(**timing: object) -> DnsCheck:
    return DnsCheck(conn=replace(CONN, port=53),
                    timing=Timing(delay_loop=10.0, delay_before_retry=10.0, **timing))  # type: ignore[arg-type]


def test_dns_logs_the_failure_text_once_retries_are_used() -> None:
    play = Player(dns(retry=3))
    first = play(OK)
    assert first.lines == () and first.first_run  # DNS_CHECK logs no success line
    timeout = Outcome(False, "timeout", failure="read timeout from socket")
    assert [play(timeout).lines for _ in range(3)] == [(), (), ()]
    step = play(timeout)
    assert step.lines == (f"DNS_CHECK ({RS}) read timeout from socket after 3 retries",)
    assert step.transition == "down"
    assert play(timeout).lines == ()
    assert play(OK).transition == "up"
    rcode = Outcome(False, "rcode", failure="read error occurred. (rcode = 2)")
    start = Player(dns(retry=3))(rcode)
    assert start.lines == (f"DNS_CHECK ({RS}) read error occurred. (rcode = 2)",)
    assert start.transition == "down"


def test_dns_log_all_failures_logs_every_attempt() -> None:
    play = Player(dns(retry=1), log_all_failures=True)
    play(OK)
    text = Outcome(False, "x", failure="failed to write socket.")
    assert play(text).lines == (f"DNS_CHECK ({RS}) failed to write socket.",)
    assert play(text).lines == (f"DNS_CHECK ({RS}) failed to write socket. after 1 retries",)


def test_smtp_retries_even_before_its_first_verdict() -> None:
    play = Player(SmtpCheck(conn=replace(CONN, port=25),
                            timing=Timing(delay_loop=10.0, retry=1, delay_before_retry=2.0)))
    banner = Outcome(False, "bad", failure="Bad greeting banner from server [192.0.2.11]:25")
    first = play(banner)
    assert first.lines == () and first.delay == 2.0 and not first.first_run
    second = play(banner)
    assert second.lines == ("SMTP_CHECK Bad greeting banner from server [192.0.2.11]:25",)
    assert second.transition == "down" and second.first_run and second.delay == 10.0
    # down: still one retry per scheduled check, no more lines
    assert (play(banner).delay, play(banner).delay) == (2.0, 10.0)
    back = play(OK)
    assert back.lines == (f"Remote SMTP server {RS} succeed on service.",)
    assert back.transition == "up"
