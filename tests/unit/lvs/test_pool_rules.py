"""The pool follows keepalived's ipwrapper.c: which real servers take traffic, the quorum with
its hysteresis, the sorry server, inhibit_on_failure, dynamic weights, and keepalived's lines."""

from __future__ import annotations

from ipaddress import IPv4Address

from pykeepalived.lvs.model import (
    Connection,
    RealServer,
    Script,
    TcpCheck,
    Timing,
    VirtualServer,
)
from pykeepalived.lvs.pool import Log, Notify, Pool

VIP = IPv4Address("192.0.2.100")
VS = "[192.0.2.100]:tcp:80"


def rs(n: int, weight: int = 1, *, alpha: bool = False, inhibit: bool = False,
       checkers: int = 1, notify: bool = False) -> RealServer:
    addr = IPv4Address(f"192.0.2.{10 + n}")
    chk = TcpCheck(Connection(addr, 80), Timing(alpha=alpha))
    return RealServer(addr, 80, weight, inhibit_on_failure=inhibit,
                      checkers=(chk,) * checkers,
                      notify_up=Script(f"/up {n}") if notify else None,
                      notify_down=Script(f"/down {n}") if notify else None)


def vs(*reals: RealServer, **kw: object) -> VirtualServer:
    return VirtualServer(address=VIP, port=80, lb_algo="wrr", real_servers=reals,
                         **kw)  # type: ignore[arg-type]


def logs(actions: list[object]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Log)]


def names(pool: Pool) -> list[str]:
    svc = pool.service()
    assert svc is not None
    return [str(d.address) for d in svc.destinations]


def test_servers_start_alive_and_a_failed_check_removes_one() -> None:
    pool = Pool(vs(rs(1), rs(2)))
    assert pool.start() == []
    assert names(pool) == ["192.0.2.11", "192.0.2.12"]
    out = pool.verdict(0, 0, False)
    assert logs(out) == [f"Removing service [192.0.2.11]:tcp:80 from VS {VS}"]
    assert names(pool) == ["192.0.2.12"]
    assert logs(pool.verdict(0, 0, True)) == [f"Adding service [192.0.2.11]:tcp:80 to VS {VS}"]
    assert names(pool) == ["192.0.2.11", "192.0.2.12"]


def test_alpha_servers_start_out_and_come_in_on_their_first_success() -> None:
    pool = Pool(vs(rs(1, alpha=True), rs(2)))
    pool.start()
    assert names(pool) == ["192.0.2.12"]
    assert logs(pool.verdict(0, 0, True)) == [f"Adding service [192.0.2.11]:tcp:80 to VS {VS}"]


def test_a_server_with_two_checkers_needs_both_up() -> None:
    pool = Pool(vs(rs(1, checkers=2)))
    pool.start()
    pool.verdict(0, 0, False)
    pool.verdict(0, 1, False)
    assert names(pool) == []
    assert pool.verdict(0, 0, True) == []  # one still down
    assert names(pool) == []
    assert logs(pool.verdict(0, 1, True)) == [f"Adding service [192.0.2.11]:tcp:80 to VS {VS}",
                                              f"Gained quorum 1+0=1 <= 1 for VS {VS}"]


def test_inhibit_on_failure_disables_and_enables() -> None:
    pool = Pool(vs(rs(1, inhibit=True), rs(2)))
    pool.start()
    assert logs(pool.verdict(0, 0, False)) == [
        f"Disabling service [192.0.2.11]:tcp:80 of VS {VS}"]
    assert pool.servers[0].set and not pool.servers[0].alive
    assert names(pool) == ["192.0.2.12"]
    assert logs(pool.verdict(0, 0, True)) == [
        f"Enabling service [192.0.2.11]:tcp:80 of VS {VS}"]
    stop = logs(pool.stop())
    assert stop == [f"Shutting down service [192.0.2.11]:tcp:80 from VS {VS}",
                    f"Shutting down service [192.0.2.12]:tcp:80 from VS {VS}"]


def test_quorum_loss_brings_in_the_sorry_server_and_its_return_takes_it_out() -> None:
    sorry = RealServer(IPv4Address("192.0.2.14"), 80)
    pool = Pool(vs(rs(1), rs(2), rs(3), quorum=3, sorry_server=sorry,
                   quorum_up=Script("/qup"), quorum_down=Script("/qdown")))
    pool.start()
    out = pool.verdict(0, 0, False)
    assert logs(out) == [
        f"Removing service [192.0.2.11]:tcp:80 from VS {VS}",
        f"Lost quorum 3-0=3 > 2 for VS {VS}",
        f"Adding sorry server [192.0.2.14]:tcp:80 to VS {VS}",
        f"Removing alive servers from the pool for VS {VS}"]
    assert [a.script.command for a in out if isinstance(a, Notify)] == ["/qdown"]
    assert names(pool) == ["192.0.2.14"]
    out = pool.verdict(0, 0, True)
    assert logs(out) == [
        f"Adding service [192.0.2.11]:tcp:80 to VS {VS}",
        f"Gained quorum 3+0=3 <= 3 for VS {VS}",
        f"Removing sorry server [192.0.2.14]:tcp:80 from VS {VS}",
        f"Adding alive servers to the pool for VS {VS}"]
    assert [a.script.command for a in out if isinstance(a, Notify)] == ["/qup"]
    assert names(pool) == ["192.0.2.11", "192.0.2.12", "192.0.2.13"]


def test_hysteresis_dampens_both_ways() -> None:
    pool = Pool(vs(*(rs(i) for i in range(1, 6)), quorum=3, hysteresis=1))
    pool.start()  # 5 >= 3 + 1: up
    assert pool.quorum_up
    pool.verdict(0, 0, False)
    pool.verdict(1, 0, False)  # 3: still >= 3 - 1
    assert pool.quorum_up
    out = pool.verdict(2, 0, False)  # 2 ... not < 2
    assert pool.quorum_up, logs(out)
    out = pool.verdict(3, 0, False)  # 1 < 2: lost
    assert f"Lost quorum 3-1=2 > 1 for VS {VS}" in logs(out)
    out = pool.verdict(0, 0, True)  # 2 < 3 + 1
    assert not pool.quorum_up
    pool.verdict(1, 0, True)  # 3
    out = pool.verdict(2, 0, True)  # 4 >= 4: gained
    assert f"Gained quorum 3+1=4 <= 4 for VS {VS}" in logs(out)


def test_without_sorry_server_quorum_loss_keeps_the_alive_servers() -> None:
    pool = Pool(vs(rs(1), rs(2), quorum=2))
    pool.start()
    out = pool.verdict(0, 0, False)
    assert f"Lost quorum 2-0=2 > 1 for VS {VS}" in logs(out)
    assert names(pool) == ["192.0.2.12"]


def test_start_with_quorum_down_uses_the_sorry_server() -> None:
    sorry = RealServer(IPv4Address("192.0.2.14"), 80)
    pool = Pool(vs(rs(1, alpha=True), quorum=1, sorry_server=sorry))
    out = pool.start()
    assert logs(out) == [f"Starting with quorum down 1-0=1 > 0 for VS {VS}",
                         f"Adding sorry server [192.0.2.14]:tcp:80 to VS {VS}",
                         f"Removing alive servers from the pool for VS {VS}"]
    assert names(pool) == ["192.0.2.14"]


def test_dynamic_weight_is_logged_and_used() -> None:
    pool = Pool(vs(rs(1, weight=5), rs(2)))
    pool.start()
    out = pool.checker_weight(0, 0, 2)
    assert logs(out) == [f"Changing weight from 5 to 2 for active service "
                         f"[192.0.2.11]:tcp:80 of VS {VS}"]
    svc = pool.service()
    assert svc is not None and [d.weight for d in svc.destinations] == [2, 1]
    pool.checker_weight(0, 0, 0)  # weight 0: alive, but takes no new connections
    assert names(pool) == ["192.0.2.12"]


def test_notify_scripts_follow_the_server_state() -> None:
    pool = Pool(vs(rs(1, notify=True)))
    pool.start()
    down = pool.verdict(0, 0, False)
    assert [a.script.command for a in down if isinstance(a, Notify)] == ["/down 1"]
    up = pool.verdict(0, 0, True)
    assert [a.script.command for a in up if isinstance(a, Notify)] == ["/up 1"]


def test_first_verdict_confirming_down_notifies_as_keepalived() -> None:
    # An alpha checker's first (failing) result runs notify_down once (has_run).
    pool = Pool(vs(rs(1, alpha=True, notify=True)))
    pool.start()
    first = pool.verdict(0, 0, False)
    assert [a.script.command for a in first if isinstance(a, Notify)] == ["/down 1"]
    assert pool.verdict(0, 0, False) == []


def test_lc_and_wlc_run_as_rr_and_wrr_on_the_plane() -> None:
    pool = Pool(VirtualServer(address=VIP, port=80, lb_algo="wlc", real_servers=(rs(1),)))
    pool.start()
    svc = pool.service()
    assert svc is not None and svc.lb_algo == "wrr"


def test_a_virtual_server_removed_by_a_reload_logs_removing_and_notifies() -> None:
    pool = Pool(vs(rs(1, notify=True), rs(2, notify=True)))
    pool.start()
    pool.verdict(1, 0, False)  # rs2 already out of the table
    out = pool.stop(stopping=False)
    assert logs(out) == [f"Removing service [192.0.2.11]:tcp:80 from VS {VS}"]
    assert [a.script.command for a in out if isinstance(a, Notify)] == ["/down 1"]
    assert pool.service() is None


def test_shutdown_runs_notifiers_only_with_omega() -> None:
    plain = Pool(vs(rs(1, notify=True)))
    plain.start()
    assert [a for a in plain.stop() if isinstance(a, Notify)] == []
    omega = Pool(vs(rs(1, notify=True), omega=True, quorum_down=Script("/qdown")))
    omega.start()
    out = omega.stop()
    assert logs(out) == [f"Shutting down service [192.0.2.11]:tcp:80 from VS {VS}"]
    assert [a.script.command for a in out if isinstance(a, Notify)] == ["/down 1", "/qdown"]


def test_a_reload_keeps_a_real_server_by_address_and_port() -> None:
    old = Pool(vs(rs(1), rs(2), rs(3)))
    old.start()
    old.verdict(1, 0, False)  # rs2 down before the reload
    new = Pool(vs(rs(1, weight=3), rs(2), rs(4)))
    out, kept = new.take_over(old)
    assert logs(out) == [
        f"Changing weight from 1 to 3 for active service [192.0.2.11]:tcp:80 of VS {VS}",
        "service [192.0.2.13]:tcp:80 no longer exist",
        f"Removing service [192.0.2.13]:tcp:80 from VS {VS}"]
    # rs2 stays down (its checker kept its state), rs4 is new and starts alive
    assert names(new) == ["192.0.2.11", "192.0.2.14"]
    assert [d.weight for d in new.service().destinations] == [3, 1]  # type: ignore[union-attr]
    assert kept == {(0, 0): (0, 0), (1, 0): (1, 0)}


def test_a_reload_that_changes_a_checker_starts_it_afresh() -> None:
    old = Pool(vs(rs(1)))
    old.start()
    old.verdict(0, 0, False)
    changed = RealServer(IPv4Address("192.0.2.11"), 80, checkers=(
        TcpCheck(Connection(IPv4Address("192.0.2.11"), 8080)),))
    new = Pool(vs(changed))
    out, kept = new.take_over(old)
    assert kept == {}
    # the down checker is gone, the new one starts up: the server comes back
    assert f"Adding service [192.0.2.11]:tcp:80 to VS {VS}" in logs(out)
    assert names(new) == ["192.0.2.11"]
