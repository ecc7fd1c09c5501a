"""VRRP advertisement codec: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798), IPv4 and IPv6.

The codec works on the VRRP message only (from the VRRP header on); the kernel builds the IP
header. Addresses are needed anyway because the VRRPv3 checksum covers an IP pseudo-header.

Encoding is byte-identical to keepalived 2.2.7 (see tests/vectors):
- v2 always carries the 8-byte authentication field (zeros unless PASS) and its checksum covers
  the VRRP message alone (RFC 3768 5.3.8);
- v3 has no authentication field; its checksum covers an IPv4 or IPv6 pseudo-header (RFC 5798
  5.2.8), unless keepalived's ``checksum_as_v2`` compatibility for old peers is asked for.

Encoding raises :class:`pykeepalived.errors.EncodeError` for an advert the wire format cannot
carry (a caller's mistake). Decoding never raises anything but :class:`PacketError`, whose
``reason`` says why, so the driver can count drops by reason. Checks that depend on the
receiving instance (VRID known, authentication, address list, TTL) are the state machine's and
the driver's, not the codec's.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

from pykeepalived.errors import EncodeError, RemoteError

IPAddress = IPv4Address | IPv6Address

VRRP_PROTOCOL = 112
VRRP_TYPE_ADVERTISEMENT = 1
AUTH_NONE = 0
AUTH_PASS = 1  # RFC 3768 5.3.6.1: simple text password, 8 octets
AUTH_AH = 2
AUTH_DATA_LEN = 8
HEADER_LEN = 8
MAX_V3_INTERVAL_CS = 0x0FFF


class DropReason(enum.Enum):
    """Why a received packet was not accepted. Used as counter keys in status and metrics."""

    TOO_SHORT = "too_short"  #: shorter than the header, or than the addresses it announces
    BAD_LENGTH = "bad_length"  #: trailing bytes beyond the addresses (and v2 auth data)
    BAD_VERSION = "bad_version"  #: version nibble not 2 or 3, or not the instance's version
    BAD_TYPE = "bad_type"  #: type nibble not 1 (ADVERTISEMENT)
    BAD_CHECKSUM = "bad_checksum"  #: RFC 3768 7.1 / RFC 5798 7.1: must verify the checksum
    V2_OVER_IPV6 = "v2_over_ipv6"  #: VRRPv2 is IPv4 only
    ZERO_INTERVAL = "zero_interval"  #: an advert interval of 0 would divide timers by zero
    ZERO_COUNT = "zero_count"  #: v2 requires at least one address (RFC 3768 5.3.5)
    BAD_TTL = "bad_ttl"  #: RFC 5798 7.1: TTL / hop limit must be 255 (multicast)
    UNKNOWN_VRID = "unknown_vrid"  #: no instance on this interface and family has this VRID
    AUTH_TYPE_MISMATCH = "auth_type_mismatch"  #: v2 auth type differs from ours
    AUTH_FAILURE = "auth_failure"  #: v2 PASS data differs, or the AH ICV / SPI is wrong
    AH_REPLAY = "ah_replay"  #: AH sequence number not above the last one seen (a replay)
    NOT_VRRP = "not_vrrp"  #: an IPsec AH header protecting something other than VRRP
    # auth_hmac (keepalived 2.4), see pykeepalived.core.hmac_auth
    AUTH_EXT_MISSING = "auth_ext_missing"  #: enforce mode, and the advert has no trailer
    AUTH_EXT_MALFORMED = "auth_ext_malformed"  #: unknown scheme, or reserved bits set
    AUTH_EXT_UNKNOWN_KEY = "auth_ext_unknown_key"  #: the trailer names a key id we lack
    AUTH_EXT_INVALID_HMAC = "auth_ext_invalid_hmac"  #: wrong key, or the advert was altered
    AUTH_EXT_STALE = "auth_ext_stale"  #: timestamp outside the time window
    AUTH_EXT_REPLAY = "auth_ext_replay"  #: sequence not above the sender's last one
    INTERVAL_MISMATCH = "interval_mismatch"  #: v2 advert interval differs (RFC 3768 7.1)
    ADDRESS_MISMATCH = "address_mismatch"  #: address count or list differs from ours
    NOT_A_PEER = "not_a_peer"  #: unicast source is not a unicast_peer (check_unicast_src)
    OWN_PACKET = "own_packet"  #: our own advert looped back
    WRONG_FAMILY = "wrong_family"  #: source address family does not match the instance


class PacketError(RemoteError):
    """A received VRRP message is malformed; ``reason`` is the counter to bump."""

    def __init__(self, reason: DropReason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Advertisement:
    """One VRRP ADVERTISEMENT as carried on the wire.

    ``interval`` is in the version's own unit: whole seconds for v2, centiseconds for v3.
    ``auth_data`` is the raw 8-byte v2 authentication field (empty for v3).
    """

    version: int
    vrid: int
    priority: int
    interval: int
    addresses: tuple[IPAddress, ...]
    auth_type: int = AUTH_NONE
    auth_data: bytes = b""
    #: the IPsec AH sequence number, for an advert that came under a verified AH header
    ah_seq: int | None = None


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``, as used by VRRP and ICMPv6."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo_header(src: IPAddress, dst: IPAddress, length: int) -> bytes:
    """The IPv4 / IPv6 pseudo-header a VRRPv3 checksum covers."""
    if isinstance(src, IPv4Address):
        return src.packed + dst.packed + struct.pack("!BBH", 0, VRRP_PROTOCOL, length)
    # RFC 8200 8.1: upper-layer length as 32 bits, 3 zero octets, next header.
    return src.packed + dst.packed + struct.pack("!I3xB", length, VRRP_PROTOCOL)


def pass_auth_data(password: str | bytes) -> bytes:
    """The v2 PASS authentication field: the password truncated/zero-padded to 8 bytes."""
    raw = password.encode() if isinstance(password, str) else password
    return raw[:AUTH_DATA_LEN].ljust(AUTH_DATA_LEN, b"\x00")


def encode(
    adv: Advertisement,
    src: IPAddress,
    dst: IPAddress,
    *,
    checksum_as_v2: bool = False,
) -> bytes:
    """Encode ``adv`` into a VRRP message with its checksum filled in.

    Raises :class:`EncodeError` if the message cannot be carried (see :func:`_check_encodable`).
    """
    _check_encodable(adv, src, dst)
    addrs = b"".join(a.packed for a in adv.addresses)
    first = (adv.version << 4) | VRRP_TYPE_ADVERTISEMENT
    if adv.version == 2:
        head = struct.pack(
            "!BBBBBBH", first, adv.vrid, adv.priority, len(adv.addresses),
            adv.auth_type, adv.interval, 0,
        )
        auth = adv.auth_data.ljust(AUTH_DATA_LEN, b"\x00")[:AUTH_DATA_LEN]
        body = head + addrs + auth
        csum = checksum(body)
    else:
        head = struct.pack(
            "!BBBBHH", first, adv.vrid, adv.priority, len(adv.addresses),
            adv.interval, 0,
        )
        body = head + addrs
        if checksum_as_v2:
            csum = checksum(body)
        else:
            csum = checksum(pseudo_header(src, dst, len(body)) + body)
    return body[:6] + struct.pack("!H", csum) + body[8:]


def with_ipv6_trailer_checksum(message: bytes, src: IPAddress, dst: IPAddress,
                               trailer: bytes) -> bytes:
    """``message`` (VRRPv3 over IPv6) with its checksum redone to cover the auth_hmac
    ``trailer`` sent after it, as the kernel's raw IPv6 checksum covers the whole payload
    (an IPv4 checksum covers the message alone: see :func:`decode`)."""
    zeroed = message[:6] + b"\0\0" + message[8:]
    length = len(message) + len(trailer)
    csum = checksum(pseudo_header(src, dst, length) + zeroed + trailer)
    return message[:6] + struct.pack("!H", csum) + message[8:]


def message_length(data: bytes, ipv6: bool) -> int | None:
    """The length the VRRP message at the start of ``data`` announces (header, addresses,
    v2 authentication field); None if ``data`` is too short to say."""
    if len(data) < HEADER_LEN:
        return None
    return HEADER_LEN + data[3] * (16 if ipv6 else 4) + (AUTH_DATA_LEN if data[0] >> 4 == 2
                                                          else 0)


def _check_encodable(adv: Advertisement, src: IPAddress, dst: IPAddress) -> None:
    """Refuse what the wire cannot carry. Values the wire can carry but a receiver drops
    (interval 0, v2 without addresses) are allowed: tests and probes need to send them."""
    if adv.version not in (2, 3):
        raise EncodeError(f"VRRP version {adv.version} is not 2 or 3")
    if adv.version == 2 and src.version != 4:
        raise EncodeError("VRRPv2 is IPv4 only (RFC 3768)")
    if dst.version != src.version:
        raise EncodeError(f"source {src} and destination {dst} are of different families")
    for field_name, value in (("VRID", adv.vrid), ("priority", adv.priority),
                              ("authentication type", adv.auth_type)):
        if not 0 <= value <= 255:
            raise EncodeError(f"{field_name} {value} does not fit in one octet")
    if len(adv.addresses) > 255:
        raise EncodeError(f"{len(adv.addresses)} addresses: at most 255 fit in one advert")
    if any(a.version != src.version for a in adv.addresses):
        raise EncodeError(f"every address must be IPv{src.version}, as the source {src} is")
    max_interval = 255 if adv.version == 2 else MAX_V3_INTERVAL_CS
    if not 0 <= adv.interval <= max_interval:
        raise EncodeError(f"advert interval {adv.interval} is outside 0..{max_interval} for "
                          f"VRRPv{adv.version}")


def decode(
    data: bytes,
    src: IPAddress,
    dst: IPAddress,
    *,
    checksum_as_v2: bool = False,
    trailer: bytes = b"",
) -> Advertisement:
    """Decode and verify a VRRP message received from ``src`` for ``dst`` (followed by an
    auth_hmac ``trailer``, which an IPv6 checksum covers).

    Raises :class:`PacketError` (and nothing else) for anything malformed.
    """
    if len(data) < HEADER_LEN:
        raise PacketError(DropReason.TOO_SHORT, f"{len(data)} bytes")
    first, vrid, priority, count = data[0], data[1], data[2], data[3]
    version, ptype = first >> 4, first & 0x0F
    if version not in (2, 3):
        raise PacketError(DropReason.BAD_VERSION, f"version {version}")
    if ptype != VRRP_TYPE_ADVERTISEMENT:
        raise PacketError(DropReason.BAD_TYPE, f"type {ptype}")
    ipv6 = isinstance(src, IPv6Address)
    if version == 2 and ipv6:
        raise PacketError(DropReason.V2_OVER_IPV6)
    alen = 16 if ipv6 else 4
    expected = HEADER_LEN + count * alen + (AUTH_DATA_LEN if version == 2 else 0)
    if len(data) < expected:
        raise PacketError(DropReason.TOO_SHORT, f"{len(data)} bytes for {count} addresses")
    if len(data) > expected:
        raise PacketError(DropReason.BAD_LENGTH, f"{len(data)} bytes for {count} addresses")
    if version == 2 and count == 0:
        raise PacketError(DropReason.ZERO_COUNT)

    if version == 2 or checksum_as_v2:
        ok = checksum(data) == 0
    elif trailer and ipv6:
        ok = checksum(pseudo_header(src, dst, len(data) + len(trailer)) + data + trailer) == 0
    else:
        ok = checksum(pseudo_header(src, dst, len(data)) + data) == 0
    if not ok:
        raise PacketError(DropReason.BAD_CHECKSUM)

    if version == 2:
        auth_type, interval = data[4], data[5]
        auth_data = data[expected - AUTH_DATA_LEN : expected]
    else:
        auth_type, interval = AUTH_NONE, int.from_bytes(data[4:6], "big") & MAX_V3_INTERVAL_CS
        auth_data = b""
    if interval == 0:
        raise PacketError(DropReason.ZERO_INTERVAL)

    raw = data[HEADER_LEN : HEADER_LEN + count * alen]
    addresses: tuple[IPAddress, ...] = tuple(
        ip_address(raw[i : i + alen]) for i in range(0, len(raw), alen)
    )
    return Advertisement(
        version=version, vrid=vrid, priority=priority, interval=interval,
        addresses=addresses, auth_type=auth_type, auth_data=auth_data,
    )
