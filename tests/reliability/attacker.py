"""A hostile node: floods the segment with forged VRRP frames through a packet socket.

Run inside the attacker's namespace (``python3 attacker.py --spec JSON``). Every frame is built
here, Ethernet header on, so TTL, checksums, lengths and addresses are whatever the attack needs.
The spec is a list of phases ``{"mode", "pps", "seconds", "burst"}``; the program prints one JSON
line per phase (frames sent, seconds) and exits.

Modes, each aimed at the victims' VRID with a priority that would win (254) were it accepted:
random (random bytes as protocol 112), truncated, checksum, ttl, auth, version, type, count,
addresses, interval (v2), unicast (a well-formed advert sent by unicast from a non-peer), and
lowprio (a *valid* lower-priority advert: the master may answer, rate-limited).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import socket
import struct
import sys
import time
from ipaddress import IPv4Address

from pykeepalived.core import packet
from pykeepalived.core.packet import Advertisement

GROUP = IPv4Address("224.0.0.18")
GROUP_MAC = bytes.fromhex("01005e000012")


def ip_checksum(header: bytes) -> int:
    return packet.checksum(header)


def frame(payload: bytes, src: IPv4Address, dst: IPv4Address, src_mac: bytes, dst_mac: bytes,
          *, ttl: int = 255, ident: int = 0) -> bytes:
    total = 20 + len(payload)
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, total, ident, 0, ttl, 112, 0,
                       src.packed, dst.packed)
    head = head[:10] + struct.pack("!H", ip_checksum(head)) + head[12:]
    return dst_mac + src_mac + b"\x08\x00" + head + payload


def payloads(mode: str, rng: random.Random, args: argparse.Namespace,
             src: IPv4Address, dst: IPv4Address) -> tuple[bytes, int]:
    """One forged VRRP message and the TTL to send it with."""
    vip = IPv4Address(args.vip)
    auth = packet.pass_auth_data(args.password) if args.password else b""
    auth_type = packet.AUTH_PASS if args.password else packet.AUTH_NONE
    v = args.version
    interval = args.interval

    def advert(prio: int = 254, *, addrs: tuple[IPv4Address, ...] = (vip,),
               a_type: int = auth_type, a_data: bytes = auth, iv: int = interval) -> bytes:
        adv = Advertisement(v, args.vrid, prio, iv, addrs,
                            a_type if v == 2 else 0, a_data if v == 2 else b"")
        return packet.encode(adv, src, dst)

    if mode == "random":
        vrid = args.vrid if rng.random() < 0.5 else rng.randrange(256)
        body = bytes([rng.randrange(256), vrid]) + rng.randbytes(rng.randrange(0, 60))
        return body, 255 if rng.random() < 0.9 else rng.randrange(256)
    if mode == "truncated":
        full = advert()
        return full[: rng.randrange(2, len(full))], 255
    if mode == "checksum":
        b = bytearray(advert())
        b[6] ^= rng.randrange(1, 256)
        return bytes(b), 255
    if mode == "ttl":
        return advert(), rng.choice([1, 64, 128, 254])
    if mode == "auth":
        return advert(a_data=rng.randbytes(8)), 255
    if mode == "version":
        b = bytearray(advert())
        b[0] = (rng.choice([0, 1, 4, 5, 15]) << 4) | 1
        return bytes(b), 255
    if mode == "type":
        b = bytearray(advert())
        b[0] = (v << 4) | rng.choice([0, 2, 3, 15])
        return bytes(b), 255
    if mode == "count":
        b = bytearray(advert())
        b[3] = rng.choice([0, 2, 3, 200])
        b[6:8] = b"\x00\x00"
        if v == 2:
            b[6:8] = struct.pack("!H", packet.checksum(bytes(b)))
        return bytes(b), 255
    if mode == "addresses":
        other = tuple(IPv4Address(f"192.0.2.{rng.randrange(150, 250)}")
                      for _ in range(rng.randrange(1, 4)))
        return advert(addrs=other), 255
    if mode == "interval":
        return advert(iv=rng.choice([2, 3, 10, 255])), 255
    if mode == "unicast":
        return advert(), 255
    if mode == "lowprio":
        return advert(prio=50), 255
    raise SystemExit(f"unknown mode {mode}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ifname", default="eth0")
    ap.add_argument("--src", required=True)
    ap.add_argument("--src-mac", required=True)
    ap.add_argument("--unicast-dst", help="victim IP for unicast mode")
    ap.add_argument("--unicast-mac", help="victim MAC for unicast mode")
    ap.add_argument("--vrid", type=int, default=51)
    ap.add_argument("--vip", default="192.0.2.100")
    ap.add_argument("--version", type=int, default=2)
    ap.add_argument("--interval", type=int, default=1)
    ap.add_argument("--password", default="")
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--spec", required=True, help="JSON list of phases")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    src = IPv4Address(args.src)
    src_mac = bytes.fromhex(args.src_mac.replace(":", ""))
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((args.ifname, 0))
    for phase in json.loads(args.spec):
        mode, pps, seconds = phase["mode"], float(phase["pps"]), float(phase["seconds"])
        burst = phase.get("burst")  # [on_seconds, off_seconds]
        if mode == "unicast":
            dst, dst_mac = IPv4Address(args.unicast_dst), bytes.fromhex(
                args.unicast_mac.replace(":", ""))
        else:
            dst, dst_mac = GROUP, GROUP_MAC
        pool = []
        for i in range(512):
            body, ttl = payloads(mode, rng, args, src, dst)
            pool.append(frame(body, src, dst, src_mac, dst_mac, ttl=ttl, ident=i))
        sent = 0
        start = time.monotonic()
        tick = 0.005
        credit = 0.0
        next_tick = start
        while True:
            now = time.monotonic()
            elapsed = now - start
            if elapsed >= seconds:
                break
            if burst and (elapsed % (burst[0] + burst[1])) >= burst[0]:
                time.sleep(0.002)  # the scenario: the quiet part of a burst cycle
                next_tick = time.monotonic()
                continue
            credit += pps * tick
            due, credit = int(credit), credit - int(credit)
            for _ in range(due):
                with contextlib.suppress(OSError):  # ENOBUFS under our own flood
                    sock.send(pool[sent % len(pool)])
                sent += 1
            next_tick += tick
            delay = next_tick - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # the scenario: pacing packets to the requested rate
        print(json.dumps({"mode": mode, "sent": sent, "seconds": round(time.monotonic() - start,
                                                                        3)}), flush=True)
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
