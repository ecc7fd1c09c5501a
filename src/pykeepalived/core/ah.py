"""VRRPv2 ``auth_type AH``: the IPsec Authentication Header as keepalived 2.2.7 puts it on the
wire (RFC 2402 header layout, HMAC-MD5-96 from RFC 2403), pure functions only.

An AH advert is a whole IPv4 datagram: IP header (protocol 51), a 24-byte AH header, then the
VRRP message (whose own auth type field says 2 and whose 8-byte authentication field is zeros).
What keepalived does, and so what this module does:

- the SPI is the sender's IPv4 address (the four bytes of the IP source), the next header 112,
  the payload length 4 (a 96-bit ICV);
- the ICV is HMAC-MD5 keyed with the password zero-padded to 8 bytes (longer passwords are cut
  there, as for PASS), over the IP header with its mutable fields zeroed (TOS, fragment field,
  header checksum, and the TTL too for unicast adverts only), the AH header with a zero ICV,
  and the VRRP message; the first 12 bytes of the digest are sent;
- the sequence number counts adverts. One counter per instance serves both directions: an
  advert is accepted only if its number is above the counter, which then takes that number,
  and a MASTER sends counter + 1. So the numbers of a virtual router rise across failovers
  (a new MASTER continues from the last number it heard) and a replayed advert is refused.
  That state lives in :class:`pykeepalived.core.router.VirtualRouter`; this module only seals
  and opens datagrams.

The IP identification field is covered by the ICV, so the sender chooses it (never 0, which the
kernel would replace) and the datagram goes out with IP_HDRINCL exactly as built here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from pykeepalived.core.packet import (
    AUTH_AH,
    HEADER_LEN,
    VRRP_PROTOCOL,
    DropReason,
    PacketError,
    checksum,
    pass_auth_data,
)
from pykeepalived.errors import EncodeError

IPAddress = IPv4Address | IPv6Address
#: (destination, datagram or message) as a SendAdvert carries them
Packets = tuple[tuple[IPAddress, bytes], ...]
VRRP_TTL = 255

IPPROTO_AH = 51
AH_LEN = 24
ICV_LEN = 12  #: HMAC-MD5-96
AH_PAYLOAD_LEN = 4  #: RFC 2402 2.2: the header's length in 32-bit words, minus 2
IPV4_HEADER_LEN = 20
IP_TOS_NETWORK_CONTROL = 0xC0
#: keepalived stops counting here ("cycled"); the counter restarts at 0 on the next MASTER
SEQ_LIMIT = 0xFFFFFFFD

_IP = struct.Struct("!BBHHHBBH4s4s")
_AH = struct.Struct("!BBH4sI")
_ZERO_ICV = bytes(ICV_LEN)


def ah_key(password: str | bytes) -> bytes:
    """The HMAC key keepalived uses: the auth_pass as the 8-byte authentication field."""
    return pass_auth_data(password)


@dataclass(frozen=True, slots=True)
class Opened:
    """A received AH datagram whose ICV and SPI are right: its sequence number and message."""

    seq: int
    message: bytes  #: the VRRP message, from the VRRP header on


def _icv(key: bytes, ip_header: bytes, ah_header: bytes, message: bytes, *,
         unicast: bool) -> bytes:
    """HMAC-MD5-96 over the datagram with the mutable fields zeroed (see the module text)."""
    masked = bytearray(ip_header)
    masked[1] = 0  # TOS
    masked[6:8] = b"\0\0"  # flags and fragment offset
    masked[10:12] = b"\0\0"  # header checksum
    if unicast:
        masked[8] = 0  # TTL
    import hmac  # here: OpenSSL is loaded only by daemons that use auth_type AH (memory)

    mac = hmac.new(key, digestmod="md5")
    mac.update(bytes(masked))
    mac.update(ah_header[: AH_LEN - ICV_LEN] + _ZERO_ICV)
    mac.update(message)
    return mac.digest()[:ICV_LEN]


def seal(message: bytes, *, src: IPv4Address, dst: IPv4Address, ident: int, ttl: int,
         seq: int, key: bytes, unicast: bool) -> bytes:
    """The whole IPv4 datagram carrying ``message`` under AH, as keepalived sends it."""
    total = IPV4_HEADER_LEN + AH_LEN + len(message)
    header = _IP.pack(0x45, IP_TOS_NETWORK_CONTROL, total, ident & 0xFFFF, 0, ttl, IPPROTO_AH,
                      0, src.packed, dst.packed)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    ah = _AH.pack(VRRP_PROTOCOL, AH_PAYLOAD_LEN, 0, src.packed, seq) + _ZERO_ICV
    icv = _icv(key, header, ah, message, unicast=unicast)
    return header + ah[: AH_LEN - ICV_LEN] + icv + message


def next_ident(ident: int) -> int:
    """The IP identification after ``ident``: 16 bits, skipping 0 (the kernel would fill it
    in, after the ICV was computed over 0)."""
    ident = (ident + 1) & 0xFFFF
    return ident or 1


def strip(payload: bytes) -> bytes:
    """The VRRP message behind an AH header, for looking up the instance before anything is
    verified. Raises :class:`PacketError` if there is no room for one or it is not VRRP."""
    if len(payload) < AH_LEN + HEADER_LEN:
        raise PacketError(DropReason.TOO_SHORT, f"{len(payload)} bytes with an AH header")
    if payload[0] != VRRP_PROTOCOL:
        raise PacketError(DropReason.NOT_VRRP, f"AH next header {payload[0]}")
    return payload[AH_LEN:]


def open_datagram(ip_header: bytes, payload: bytes, *, key: bytes, unicast: bool) -> Opened:
    """Verify the AH of a received datagram (``payload`` from the AH header on).

    Raises :class:`PacketError`: AUTH_FAILURE when the ICV is wrong (wrong password, or fields
    changed on the way) or the SPI is not the source address, as keepalived checks them."""
    message = strip(payload)
    if len(ip_header) < IPV4_HEADER_LEN:
        raise PacketError(DropReason.TOO_SHORT, "IPv4 header")
    ah = payload[:AH_LEN]
    expected = _icv(key, ip_header, ah, message, unicast=unicast)
    import hmac

    if not hmac.compare_digest(expected, ah[AH_LEN - ICV_LEN:]):
        raise PacketError(DropReason.AUTH_FAILURE, "IPSEC-AH: invalid HMAC-MD5 value "
                          "(fields changed on the way, or a different password)")
    _next, _plen, _reserved, spi, seq = _AH.unpack_from(ah)
    if spi != ip_header[12:16]:
        raise PacketError(DropReason.AUTH_FAILURE, f"IPSEC-AH: SPI {IPv4Address(spi)} is not "
                          f"the source {IPv4Address(ip_header[12:16])}")
    return Opened(seq, message)


class AhSequence:
    """One instance's AH state, keepalived's ``ipsecah_counter`` and IP identification.

    ``seq`` is the last sequence number heard or sent; ``cycled`` is set when it reached
    :data:`SEQ_LIMIT` (it then stops rising until the next MASTER restarts it from 0)."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.seq = 0
        self.cycled = False
        self.ident = 0

    @classmethod
    def for_params(cls, auth_type: int, auth_pass: bytes,
                   current: AhSequence | None) -> AhSequence | None:
        """The state an instance with these settings needs: None unless AH; across a reload
        the counter carries over (as keepalived's does) and the key follows the password."""
        if auth_type != AUTH_AH:
            return None
        if current is None:
            return cls(ah_key(auth_pass))
        current.key = ah_key(auth_pass)
        return current

    # ---------------------------------------------------------------- receiving

    def accept(self, seq: int, *, backup: bool) -> bool:
        """An advert whose ICV checked out carries ``seq``: False if it was already processed
        (not above the counter), else the counter takes it."""
        if seq <= self.seq:
            return False
        self.seq = seq
        if backup:
            self.cycled = False
        return True

    def heard_lower(self, seq: int) -> None:
        """As MASTER, an advert of lower priority: keepalived "syncs" its counter past it."""
        self.seq = (seq + 1) & 0xFFFFFFFF
        self.cycled = False

    def heard_higher(self) -> None:
        self.cycled = False

    def becoming_master(self) -> None:
        """The anti-replay counter restarts only if it had cycled."""
        if self.cycled:
            self.cycled = False
            self.seq = 0

    # ---------------------------------------------------------------- sending

    def seal_next(self, messages: Packets, src: IPAddress, *, unicast: bool) -> Packets:
        """Count one advert (one sequence number and identification for all its
        destinations, as keepalived does for unicast peers) and seal it for each."""
        if self.seq > SEQ_LIMIT:
            self.cycled = True
        else:
            self.seq += 1
        self.ident = next_ident(self.ident)
        return self._seal(messages, src, unicast, self.seq, self.ident)

    def seal_ahead(self, messages: Packets, src: IPAddress, *, unicast: bool) -> Packets:
        """The datagrams the next advert would be, without counting it (a last word, said by
        another process if this one dies before sending anything else)."""
        seq = self.seq if self.seq > SEQ_LIMIT else self.seq + 1
        return self._seal(messages, src, unicast, seq, next_ident(self.ident))

    def _seal(self, messages: Packets, src: IPAddress, unicast: bool, seq: int,
              ident: int) -> Packets:
        if not isinstance(src, IPv4Address):
            raise EncodeError("IPsec AH adverts are IPv4 only")
        out = []
        for dst, message in messages:
            if not isinstance(dst, IPv4Address):
                raise EncodeError("IPsec AH adverts are IPv4 only")
            out.append((dst, seal(message, src=src, dst=dst, ident=ident, ttl=VRRP_TTL,
                                  seq=seq, key=self.key, unicast=unicast)))
        return tuple(out)

