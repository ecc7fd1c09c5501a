"""nftables through libnftables (ctypes): keepalived's accept-mode filter and a VRRP blocker.

Without ``accept`` (and under ``vrrp_strict``) a VRRP router must not accept packets addressed to
the virtual addresses it owns (RFC 5798 6.4.3). keepalived does that with its own nftables
table, and this module mirrors its layout so an operator's ``nft list ruleset`` looks familiar:

- ``table ip keepalived`` / ``table ip6 keepalived`` (name configurable, like keepalived's
  ``nftables`` keyword), each with filter chains ``in`` (hook input) and ``out`` (hook output) at
  priority -1, policy accept;
- a set ``vips`` of the addresses, with ``ip daddr @vips drop`` in ``in`` and
  ``ip saddr @vips drop`` in ``out``;
- for IPv6 link-local VIPs, whose address alone is ambiguous, a set ``vips_link_local`` of
  ``address . interface``; neighbour discovery for the VIPs is let through so the address can
  still be resolved.

Commands go to libnftables in the nft language; its error buffer becomes :class:`NftError`.
libnftables talks netlink from the calling thread, so a namespace other than the current one is
entered with :func:`run_in_netns` for each command.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from pykeepalived.errors import HostError
from pykeepalived.net.netns import run_in_netns

IPAddress = IPv4Address | IPv6Address


class NftError(HostError):
    """libnftables rejected a command; the message is nft's own error text."""


_lib: ctypes.CDLL | None = None


def _libnftables() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        lib = ctypes.CDLL("libnftables.so.1", use_errno=True)
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_ctx_set_dry_run.argtypes = [ctypes.c_void_p, ctypes.c_bool]
        _lib = lib
    return _lib


#: libnftables' NFT_CTX_OUTPUT_JSON (nftables.h): ``nft -j``.
_OUTPUT_JSON = 1 << 4


def _run_here(commands: str, *, json_output: bool = False, dry_run: bool = False) -> str:
    lib = _libnftables()
    ctx = lib.nft_ctx_new(0)
    if not ctx:
        raise NftError("nft_ctx_new failed")
    try:
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        if json_output:
            lib.nft_ctx_output_set_flags(ctx, _OUTPUT_JSON)
        if dry_run:
            lib.nft_ctx_set_dry_run(ctx, True)
        rc = lib.nft_run_cmd_from_buffer(ctx, commands.encode())
        out = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode(errors="replace")
        err = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode(errors="replace")
    finally:
        lib.nft_ctx_free(ctx)
    if rc != 0:
        raise NftError(err.strip() or f"nft command failed: {commands!r}")
    return out


def nft(commands: str, *, netns: str | None = None) -> str:
    """Run nft-language ``commands`` (one transaction) and return nft's output."""
    return run_in_netns(netns, lambda: _run_here(commands))


def nft_json(commands: str, *, netns: str | None = None) -> Any:
    """Run ``commands`` with JSON output (``nft -j``) and return it parsed (None when nft
    printed nothing, as for commands that only change the ruleset)."""
    out = run_in_netns(netns, lambda: _run_here(commands, json_output=True))
    return json.loads(out) if out.strip() else None


def nft_check(commands: str, *, netns: str | None = None) -> None:
    """Check ``commands`` as ``nft -c`` does: parsed, evaluated and sent to the kernel as a
    transaction that is then aborted, so nothing changes; raises :class:`NftError` with nft's
    message when they would fail."""
    run_in_netns(netns, lambda: _run_here(commands, dry_run=True))


# --- accept mode -----------------------------------------------------------------------------

_ND_TYPES = "{ nd-neighbor-solicit, nd-neighbor-advert }"


class VipFilter:
    """keepalived's no-accept filter: drop traffic to and from the VIPs this node holds."""

    def __init__(
        self, table: str = "keepalived", *, priority: int = -1, netns: str | None = None
    ) -> None:
        self.table = table
        self.priority = priority
        self.netns = netns
        self._ready = False

    def _run(self, commands: str) -> str:
        return nft(commands, netns=self.netns)

    def setup(self) -> None:
        """Create both tables afresh (leftovers of a previous run are removed first)."""
        t, prio = self.table, self.priority
        script = f"""
table ip {t}
delete table ip {t}
table ip6 {t}
delete table ip6 {t}
table ip {t} {{
    set vips {{ type ipv4_addr; }}
    chain in {{ type filter hook input priority {prio}; policy accept;
        ip daddr @vips drop
    }}
    chain out {{ type filter hook output priority {prio}; policy accept;
        ip saddr @vips drop
    }}
}}
table ip6 {t} {{
    set vips {{ type ipv6_addr; }}
    set vips_link_local {{ type ipv6_addr . ifname; }}
    chain in {{ type filter hook input priority {prio}; policy accept;
        icmpv6 type {_ND_TYPES} accept
        ip6 daddr @vips drop
        ip6 daddr fe80::/10 ip6 daddr . iifname @vips_link_local drop
    }}
    chain out {{ type filter hook output priority {prio}; policy accept;
        icmpv6 type {_ND_TYPES} accept
        ip6 saddr @vips drop
        ip6 saddr fe80::/10 ip6 saddr . oifname @vips_link_local drop
    }}
}}
"""
        self._run(script)
        self._ready = True

    def _elements(self, addrs: Iterable[IPAddress], ifname: str | None) -> list[str]:
        commands = []
        for addr in addrs:
            if isinstance(addr, IPv6Address) and addr.is_link_local:
                if not ifname:
                    raise ValueError(f"link-local VIP {addr} needs an interface name")
                commands.append(f'ip6 {self.table} vips_link_local {{ {addr} . "{ifname}" }}')
            elif isinstance(addr, IPv6Address):
                commands.append(f"ip6 {self.table} vips {{ {addr} }}")
            else:
                commands.append(f"ip {self.table} vips {{ {addr} }}")
        return commands

    def add_vips(self, addrs: Iterable[IPAddress], *, ifname: str | None = None) -> None:
        """Start dropping traffic for ``addrs`` (idempotent)."""
        if not self._ready:
            self.setup()
        elements = self._elements(addrs, ifname)
        if elements:
            self._run("\n".join(f"add element {e}" for e in elements))

    def remove_vips(self, addrs: Iterable[IPAddress], *, ifname: str | None = None) -> None:
        """Stop dropping traffic for ``addrs``; addresses not in the sets are ignored."""
        for element in self._elements(addrs, ifname):
            # One at a time: a transaction fails whole if any element is absent.
            with contextlib.suppress(NftError):
                self._run(f"delete element {element}")

    def vips(self) -> set[IPAddress]:
        """The addresses currently in the ``vips`` sets (link-local ones excluded)."""
        found: set[IPAddress] = set()
        for family, cls in (("ip", IPv4Address), ("ip6", IPv6Address)):
            try:
                out = self._run(f"list set {family} {self.table} vips")
            except NftError:
                continue
            if "elements" not in out:
                continue
            body = out.split("elements = {", 1)[1].split("}", 1)[0]
            for token in body.replace("\n", " ").split(","):
                token = token.strip()
                if token:
                    found.add(cls(token))
        return found

    def destroy(self) -> None:
        """Remove both tables (on stop); absent tables are fine."""
        t = self.table
        self._run(f"table ip {t}\ndelete table ip {t}\ntable ip6 {t}\ndelete table ip6 {t}")
        self._ready = False


# --- test helper: VRRP-only partition ----------------------------------------------------------

BLOCK_TABLE = "pykeepalived_block_vrrp"


def block_vrrp(*, netns: str | None = None, table: str = BLOCK_TABLE) -> None:
    """Drop IP protocol 112 in and out (the usual split-brain cause); ARP and ND still pass."""
    nft(
        f"""table inet {table}
delete table inet {table}
table inet {table} {{
    chain in {{ type filter hook input priority -10; policy accept; meta l4proto 112 drop; }}
    chain out {{ type filter hook output priority -10; policy accept; meta l4proto 112 drop; }}
}}
""",
        netns=netns,
    )


def unblock_vrrp(*, netns: str | None = None, table: str = BLOCK_TABLE) -> None:
    nft(f"table inet {table}\ndelete table inet {table}", netns=netns)
