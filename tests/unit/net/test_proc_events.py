"""The proc connector's wire format: datagrams captured from a 6.18 kernel and hand-built ones,
decoded without I/O; truncated and garbage datagrams are counted and dropped, never raised."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykeepalived.net.nlwire import NLMSGHDR
from pykeepalived.net.proc_events import (
    CN_IDX_PROC,
    CN_MSG,
    CN_VAL_PROC,
    NLMSG_ERROR,
    PROC_CN_MCAST_IGNORE,
    PROC_CN_MCAST_LISTEN,
    PROC_EVENT_COMM,
    PROC_EVENT_EXEC,
    PROC_EVENT_EXIT,
    PROC_EVENT_FORK,
    PROC_EVENT_NONE,
    ProcEvent,
    SequenceCheck,
    decode_datagram,
    mcast_message,
)

# Captured with ProcEventSocket around a child that renamed itself ("renamed") and exec'd
# /bin/true: the kernel's answer to the subscription, then the child's fork, comm, exec, exit.
CAPTURED = {
    "ack": "4c00000003000000ad140000000000000100000001000000ad14000001000000280000000000000000"
           "000000c6412c57df150000000000000000000000000000000000000000000000000000",
    "fork": "4c00000003000000ae140000000000000100000001000000ae14000000000000280000000100000000"
            "00000064193257df150000be500000be500000bf500000bf5000000000000000000000",
    "comm": "4c00000003000000af140000000000000100000001000000af14000000000000280000000002000000"
            "00000027bf5e57df150000bf500000bf50000072656e616d6564000000000000000000",
    "exec": "4c00000003000000b0140000000000000100000001000000b014000000000000280000000200000000"
            "0000007c266a57df150000bf500000bf50000000000000000000000000000000000000",
    "exit": "4c00000003000000b1140000000000000100000001000000b114000000000000280000000000008000"
            "000000f5337657df150000bf500000bf5000000000000011000000be500000be500000",
}


def test_captured_datagrams() -> None:
    decoded = {}
    for name, hexdata in CAPTURED.items():
        events, malformed = decode_datagram(bytes.fromhex(hexdata))
        assert malformed == 0
        (decoded[name],) = events
    assert decoded["ack"] == ProcEvent("ack", 0, 0, err=0, answers=1, cpu=0, seq=5293)
    assert decoded["fork"] == ProcEvent("fork", 20671, 20671, parent=20670, seq=5294)
    assert decoded["comm"] == ProcEvent("comm", 20671, 20671, comm="renamed", seq=5295)
    assert decoded["exec"] == ProcEvent("exec", 20671, 20671, seq=5296)
    assert decoded["exit"] == ProcEvent("exit", 20671, 20671, seq=5297)
    assert all(e.leader for e in decoded.values())


def message(what: int, data: bytes, *, idx: int = CN_IDX_PROC, val: int = CN_VAL_PROC,
            seq: int = 7, ack: int = 0, cpu: int = 1, nl_type: int = 3,
            cn_len: int | None = None) -> bytes:
    """One netlink message as the kernel builds it: nlmsghdr, cn_msg, proc_event."""
    event = struct.pack("=IIQ", what, cpu, 123456789) + data
    event += b"\0" * max(0, 40 - len(event))  # sizeof(struct proc_event)
    cn = CN_MSG.pack(idx, val, seq, ack, len(event) if cn_len is None else cn_len, 0) + event
    return NLMSGHDR.pack(NLMSGHDR.size + len(cn), nl_type, 0, 0, 0) + cn


def test_hand_built_events() -> None:
    cases = [
        (message(PROC_EVENT_FORK, struct.pack("=iiii", 10, 10, 11, 11)),
         ProcEvent("fork", 11, 11, parent=10, cpu=1, seq=7)),
        # a new thread: the child's pid is not its tgid
        (message(PROC_EVENT_FORK, struct.pack("=iiii", 10, 10, 12, 10)),
         ProcEvent("fork", 12, 10, parent=10, cpu=1, seq=7)),
        (message(PROC_EVENT_EXEC, struct.pack("=ii", 11, 11)),
         ProcEvent("exec", 11, 11, cpu=1, seq=7)),
        (message(PROC_EVENT_COMM, struct.pack("=ii16s", 11, 11, b"x" * 15)),
         ProcEvent("comm", 11, 11, comm="x" * 15, cpu=1, seq=7)),
        (message(PROC_EVENT_EXIT, struct.pack("=iiIIii", 13, 11, 0, 17, 1, 1)),
         ProcEvent("exit", 13, 11, cpu=1, seq=7)),
        (message(PROC_EVENT_NONE, struct.pack("=I", 1), ack=43),
         ProcEvent("ack", 0, 0, err=1, answers=43, cpu=1, seq=7)),
    ]
    for data, expected in cases:
        assert decode_datagram(data) == ([expected], 0)
    assert not cases[1][1].leader
    assert not cases[4][1].leader


def test_other_kinds_come_as_other_for_their_sequence_numbers() -> None:
    uid = message(0x4, struct.pack("=iiII", 11, 12, 0, 0), seq=8)  # PROC_EVENT_UID
    coredump = message(0x40000000, struct.pack("=iiii", 11, 11, 1, 1), seq=9)
    assert decode_datagram(uid) == ([ProcEvent("other", 11, 12, cpu=1, seq=8)], 0)
    assert decode_datagram(coredump) == ([ProcEvent("other", 11, 11, cpu=1, seq=9)], 0)


def test_what_is_skipped_without_counting() -> None:
    other_connector = message(PROC_EVENT_EXEC, struct.pack("=ii", 11, 11), idx=3, val=1)
    error = message(PROC_EVENT_EXEC, struct.pack("=ii", 11, 11), nl_type=NLMSG_ERROR)
    for data in (other_connector, error):
        assert decode_datagram(data) == ([], 0)


def test_several_messages_in_one_datagram() -> None:
    one = message(PROC_EVENT_EXEC, struct.pack("=ii", 11, 11))
    two = message(PROC_EVENT_EXIT, struct.pack("=ii", 11, 11))
    events, malformed = decode_datagram(one + two)
    assert [e.kind for e in events] == ["exec", "exit"]
    assert malformed == 0


def test_every_truncation_is_counted_not_raised() -> None:
    full = bytes.fromhex(CAPTURED["comm"])
    for cut in range(1, len(full)):
        events, malformed = decode_datagram(full[:cut])
        assert events == [] and malformed == 1, cut
    assert decode_datagram(b"") == ([], 0)


def test_lengths_that_lie() -> None:
    exec_data = struct.pack("=ii", 11, 11)
    # cn_msg claims more payload than the message holds
    assert decode_datagram(message(PROC_EVENT_EXEC, exec_data, cn_len=200)) == ([], 1)
    # a payload too short for the event's header
    assert decode_datagram(message(PROC_EVENT_EXEC, exec_data, cn_len=8)) == ([], 1)
    # a payload too short for a fork's pids (the header says fork, the rest is missing)
    assert decode_datagram(message(PROC_EVENT_FORK, b"", cn_len=20)) == ([], 1)
    # nlmsg_len beyond the datagram, or below a header's size
    good = message(PROC_EVENT_EXEC, exec_data)
    assert decode_datagram(struct.pack("=I", 1000) + good[4:]) == ([], 1)
    assert decode_datagram(struct.pack("=I", 4) + good[4:]) == ([], 1)
    # a good message followed by a stub: the good one stays
    events, malformed = decode_datagram(good + b"\1\2\3")
    assert [e.kind for e in events] == ["exec"] and malformed == 1


@given(st.binary(max_size=200))
def test_garbage_never_raises(data: bytes) -> None:
    events, malformed = decode_datagram(data)
    assert malformed >= 0
    assert all(isinstance(e, ProcEvent) for e in events)


def test_flipped_bytes_never_raise() -> None:
    rng = random.Random(5)
    originals = [bytes.fromhex(h) for h in CAPTURED.values()]
    for _ in range(3000):
        data = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        decode_datagram(bytes(data[: rng.randint(0, len(data))]))


@pytest.mark.parametrize(("listen", "op"), [(True, PROC_CN_MCAST_LISTEN),
                                            (False, PROC_CN_MCAST_IGNORE)])
def test_subscription_message(listen: bool, op: int) -> None:
    data = mcast_message(listen, port=77, ack=41)
    assert len(data) == 40  # what keepalived sends: nlmsghdr, cn_msg, enum proc_cn_mcast_op
    length, kind, flags, seq, port = NLMSGHDR.unpack_from(data)
    assert (length, kind, flags, seq, port) == (40, 3, 0, 0, 77)
    assert CN_MSG.unpack_from(data, 16) == (CN_IDX_PROC, CN_VAL_PROC, 0, 41, 4, 0)
    assert struct.unpack_from("=I", data, 36) == (op,)


def test_sequence_gaps() -> None:
    check = SequenceCheck()

    def ev(cpu: int, seq: int, kind: str = "exec") -> ProcEvent:
        return ProcEvent(kind, 1, 1, cpu=cpu, seq=seq)  # type: ignore[arg-type]

    assert check.missed(ev(0, 10)) == 0  # the first of a CPU sets where it stands
    assert check.missed(ev(1, 500)) == 0
    assert check.missed(ev(0, 11)) == 0
    assert check.missed(ev(0, 12, "ack")) == 0  # answers are numbered too (since 4.x)
    assert check.missed(ev(0, 15)) == 2
    assert check.missed(ev(1, 501)) == 0
    assert check.missed(ev(2**32 - 1, 3, "ack")) == 0  # older kernels: answers off-sequence
    assert check.missed(ev(0, 16)) == 0
    check.last[3] = 2**32 - 1
    assert check.missed(ev(3, 0)) == 0  # wraps
