"""The priority-0 advert a router hands out ahead of its death (its last word), unsent."""

from __future__ import annotations

from ipaddress import ip_address

from pykeepalived.core import packet
from pykeepalived.core.actions import SendAdvert
from pykeepalived.core.router import RouterParams, VirtualRouter

SRC = ip_address("192.0.2.1")
PEERS = (ip_address("192.0.2.2"), ip_address("192.0.2.3"))


def router(**overrides: object) -> VirtualRouter:
    base: dict[str, object] = dict(name="VI_1", vrid=51, priority=255, want_master=True, src=SRC,
                                   addresses=(ip_address("192.0.2.100"),), destinations=PEERS,
                                   unicast=True, version=3, advert_int=0.1)
    base.update(overrides)
    return VirtualRouter(RouterParams(**base))  # type: ignore[arg-type]


def test_goodbye_packets_are_the_stop_adverts_per_destination_and_count_nothing() -> None:
    r = router()
    r.start(0.0)
    sent_before = r.stats.adverts_sent
    goodbye = r.goodbye_packets()
    assert [dst for dst, _ in goodbye] == list(PEERS)
    for dst, data in goodbye:
        adv = packet.decode(data, SRC, dst)
        assert (adv.vrid, adv.priority, adv.interval) == (51, 0, 10)
        assert adv.addresses == (ip_address("192.0.2.100"),)
    # Asking sends nothing and counts nothing: the words are only handed out.
    assert r.stats.adverts_sent == sent_before and r.stats.priority_zero_sent == 0
    # They are the very bytes a graceful stop sends.
    stop = [a for a in r.stop(1.0) if isinstance(a, SendAdvert)]
    assert len(stop) == 1 and stop[0].priority == 0 and stop[0].packets == goodbye


def test_goodbye_packets_follow_a_new_source_and_v2_authentication() -> None:
    r = router(version=2, advert_int=1.0, auth_type=packet.AUTH_PASS, auth_pass=b"secret",
               destinations=(ip_address("224.0.0.18"),), unicast=False)
    first = r.goodbye_packets()
    adv = packet.decode(first[0][1], SRC, first[0][0])
    assert (adv.priority, adv.auth_type, adv.auth_data) == (
        0, packet.AUTH_PASS, packet.pass_auth_data("secret"))
    r.update_source(ip_address("192.0.2.9"))
    assert r.goodbye_packets() == first  # v2 has no pseudo-header: the same bytes
    r6 = router(src=ip_address("fe80::1"), addresses=(ip_address("2001:db8::100"),),
                destinations=(ip_address("ff02::12"),), unicast=False)
    before = r6.goodbye_packets()
    r6.update_source(ip_address("fe80::2"))
    after = r6.goodbye_packets()
    assert before != after  # v3's checksum covers the source
    packet.decode(after[0][1], ip_address("fe80::2"), ip_address("ff02::12"))
