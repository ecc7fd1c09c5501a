"""The typed, validated form of a keepalived.conf: what the daemon reads.

Frozen dataclasses with tuples, so a loaded configuration can be shared and compared (reload builds
a new one beside the running one). Values are already resolved the way keepalived resolves them:
instance settings fall back to the matching ``global_defs`` default, the VRRP version is worked out
(an IPv6 instance is always v3), ``accept`` follows ``vrrp_strict``. Field names follow keepalived's
keywords; where a field holds a list it is plural, and its `keyword` metadata names the keyword
(the JSON dump uses keepalived's names). Anything that can be wrong at run time has a ``loc``.

The load-balancing side (``virtual_server`` and friends) is kept twice: as typed headers over a
generic statement tree (`VirtualServer`, `VirtualServerGroup`: what the dump writes back as text)
and resolved into `pykeepalived.lvs.model.LvsConfig` (``KeepalivedConfig.lvs``: what the load
balancer runs; built by `pykeepalived.lvs.parse`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias

from pykeepalived.config.diagnostics import NOWHERE, Location

if TYPE_CHECKING:
    from pykeepalived.lvs.model import LvsConfig

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface: TypeAlias = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network
State: TypeAlias = Literal["MASTER", "BACKUP"]
Family: TypeAlias = Literal[4, 6]


def kw(name: str) -> dict[str, str]:
    """Field metadata naming the keepalived keyword a field is written as."""
    return {"keyword": name}


_MCAST4 = ipaddress.IPv4Address("224.0.0.18")
_MCAST6 = ipaddress.IPv6Address("ff02::12")


@dataclass(frozen=True)
class VirtualIP:
    """A ``virtual_ipaddress`` / ``virtual_ipaddress_excluded`` / ``static_ipaddress`` line."""

    address: IPInterface
    brd: ipaddress.IPv4Address | None = None
    dev: str | None = None
    scope: str | None = None
    label: str | None = None
    peer: IPInterface | None = None
    no_track: bool = False
    home: bool = False
    nodad: bool = False
    noprefixroute: bool = False
    autojoin: bool = False
    use_vmac: str | None = None
    #: Any further words keepalived accepts that the daemon does not use yet.
    extra: tuple[str, ...] = ()
    loc: Location = field(default=NOWHERE, compare=False, repr=False)

    @property
    def family(self) -> Family:
        return 4 if self.address.version == 4 else 6


@dataclass(frozen=True)
class UnicastPeer:
    address: IPAddress
    min_ttl: int | None = None
    max_ttl: int | None = None
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class VirtualRoute:
    """A route line; typed where the daemon needs it, `words` holds the line as written."""

    destination: str
    words: tuple[str, ...]
    src: str | None = None
    via: str | None = None
    dev: str | None = None
    table: str | None = None
    metric: int | None = None
    scope: str | None = None
    type: str | None = None
    no_track: bool = False
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class VirtualRule:
    """A policy-routing rule line; typed where the daemon needs it, `words` as written."""

    words: tuple[str, ...]
    from_: str | None = field(default=None, metadata=kw("from"))
    to: str | None = None
    table: str | None = None
    preference: int | None = None
    iif: str | None = None
    oif: str | None = None
    fwmark: str | None = None
    no_track: bool = False
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class TrackInterface:
    name: str
    weight: int = 0
    reverse: bool = False
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class TrackScript:
    """A reference to a ``vrrp_script``; `weight` None means "use the script's weight"."""

    name: str
    weight: int | None = None
    reverse: bool = False
    #: Whether ``reverse`` / ``noreverse`` was written; if not, the definition's reverse applies
    #: (`validate` resolves `reverse` so).
    reverse_given: bool = field(default=False, compare=False, repr=False)
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class TrackFile:
    """A reference to a ``track_file``; `weight` None means "use the track_file's weight"."""

    name: str
    weight: int | None = None
    reverse: bool = False
    #: Whether ``reverse`` / ``noreverse`` was written; if not, the definition's reverse applies
    #: (`validate` resolves `reverse` so).
    reverse_given: bool = field(default=False, compare=False, repr=False)
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class TrackProcess:
    """A reference to a ``vrrp_track_process``."""

    name: str
    weight: int | None = None
    reverse: bool = False
    #: Whether ``reverse`` / ``noreverse`` was written; if not, the definition's reverse applies
    #: (`validate` resolves `reverse` so).
    reverse_given: bool = field(default=False, compare=False, repr=False)
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class VrrpScript:
    name: str
    script: str | None = None
    interval: float = 1.0
    #: None: the interval (keepalived's default).
    timeout: float | None = None
    weight: int = 0
    reverse: bool = False
    rise: int = 1
    fall: int = 1
    user: str | None = None
    group: str | None = None
    init_fail: bool = False
    loc: Location = field(default=NOWHERE, compare=False, repr=False)

    @property
    def effective_timeout(self) -> float:
        return self.interval if self.timeout is None else self.timeout


@dataclass(frozen=True)
class TrackFileDef:
    name: str
    file: str | None = None
    weight: int = 1
    reverse: bool = False
    #: ``init_file [VALUE] [overwrite]``: create the file with VALUE (0) if it does not exist.
    init_file: int | None = None
    init_file_overwrite: bool = False
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class TrackProcessDef:
    name: str
    process: str | None = None
    param_match: str | None = None
    weight: int = 0
    reverse: bool = False
    quorum: int = 1
    quorum_max: int | None = None
    delay: float | None = None
    terminate_delay: float | None = None
    fork_delay: float | None = None
    full_command: bool = False
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class SyncGroup:
    name: str
    group: tuple[str, ...] = ()
    track_interfaces: tuple[TrackInterface, ...] = field(default=(), metadata=kw("track_interface"))
    track_scripts: tuple[TrackScript, ...] = field(default=(), metadata=kw("track_script"))
    track_files: tuple[TrackFile, ...] = field(default=(), metadata=kw("track_file"))
    track_processes: tuple[TrackProcess, ...] = field(default=(), metadata=kw("track_process"))
    notify: str | None = None
    notify_master: str | None = None
    notify_backup: str | None = None
    notify_fault: str | None = None
    notify_stop: str | None = None
    smtp_alert: bool = False
    global_tracking: bool = False
    sync_group_tracking_weight: bool = False
    notify_priority_changes: bool = False
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class AuthHmac:
    """keepalived 2.4's ``auth_hmac`` block (see pykeepalived.core.hmac_auth)."""

    #: (key id, key bytes) in configuration order; bad or duplicate keys are left out
    keys: tuple[tuple[int, bytes], ...] = field(default=(), metadata=kw("key"))
    active_key: int | None = None
    anti_replay: Literal["time", "monotonic"] = "time"
    time_window: int | None = None  #: None: derived from advert_int
    mode: Literal["enforce", "permissive", "receive-only"] = "enforce"
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class VrrpInstance:
    name: str
    interface: str | None = None
    state: State | None = None
    virtual_router_id: int = 0
    priority: int = 100
    advert_int: float = 1.0
    #: Resolved: instance ``version`` > global ``vrrp_version`` > 2; IPv6 forces 3.
    version: int = 2
    #: From the first VIP (4 when there is none).
    family: Family = 4
    unicast_src_ip: IPAddress | None = None
    unicast_peers: tuple[UnicastPeer, ...] = field(default=(), metadata=kw("unicast_peer"))
    unicast_ttl: int | None = None
    mcast_src_ip: IPAddress | None = None
    mcast_dst_ip: IPAddress | None = None
    #: ``auth_type AH`` is refused (an error) until IPsec AH is implemented.
    auth_type: Literal["PASS", "AH"] | None = None
    #: Truncated to 8 characters, as keepalived does (the VRRPv2 field is 8 octets).
    auth_pass: str | None = None
    auth_hmac: AuthHmac | None = None
    virtual_ipaddresses: tuple[VirtualIP, ...] = field(default=(), metadata=kw("virtual_ipaddress"))
    virtual_ipaddresses_excluded: tuple[VirtualIP, ...] = field(
        default=(), metadata=kw("virtual_ipaddress_excluded")
    )
    virtual_routes: tuple[VirtualRoute, ...] = ()
    virtual_rules: tuple[VirtualRule, ...] = ()
    track_interfaces: tuple[TrackInterface, ...] = field(default=(), metadata=kw("track_interface"))
    track_scripts: tuple[TrackScript, ...] = field(default=(), metadata=kw("track_script"))
    track_files: tuple[TrackFile, ...] = field(default=(), metadata=kw("track_file"))
    track_processes: tuple[TrackProcess, ...] = field(default=(), metadata=kw("track_process"))
    nopreempt: bool = False
    preempt_delay: float = 0.0
    #: Accept packets to the VIPs; keepalived's default is True unless strict mode.
    accept: bool = True
    garp_master_delay: float = 5.0
    garp_master_repeat: int = 5
    #: 0 = no periodic refresh.
    garp_master_refresh: float = 0.0
    garp_master_refresh_repeat: int = 1
    garp_lower_prio_delay: float = 5.0
    garp_lower_prio_repeat: int = 5
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    #: The VMAC interface name (``vrrp.<vrid>`` when ``use_vmac`` has no name), or None.
    use_vmac: str | None = None
    vmac_xmit_base: bool = False
    dont_track_primary: bool = False
    notify: str | None = None
    notify_master: str | None = None
    notify_backup: str | None = None
    notify_fault: str | None = None
    notify_stop: str | None = None
    notify_deleted: str | None = None
    notify_master_rx_lower_pri: str | None = None
    notify_priority_changes: bool = False
    smtp_alert: bool = False
    down_timer_adverts: int = 3
    skip_check_adv_addr: bool = False
    check_unicast_src: bool = False
    strict_mode: bool = False
    promote_secondaries: bool = False
    track_src_ip: bool = False
    debug: int = 0
    loc: Location = field(default=NOWHERE, compare=False, repr=False)
    #: where each keyword was written, for diagnostics that concern one setting
    keyword_locs: Mapping[str, Location] = field(default_factory=dict, compare=False,
                                                 repr=False)


@dataclass(frozen=True)
class GlobalDefs:
    router_id: str | None = None
    script_user: str | None = None
    script_group: str | None = None
    enable_script_security: bool = False
    vrrp_version: int = 2
    vrrp_mcast_group4: ipaddress.IPv4Address = _MCAST4
    vrrp_mcast_group6: ipaddress.IPv6Address = _MCAST6
    vrrp_garp_master_delay: float = 5.0
    vrrp_garp_master_repeat: int = 5
    vrrp_garp_master_refresh: float = 0.0
    vrrp_garp_master_refresh_repeat: int = 1
    vrrp_garp_lower_prio_delay: float | None = None
    vrrp_garp_lower_prio_repeat: int | None = None
    vrrp_garp_interval: float = 0.0
    vrrp_gna_interval: float = 0.0
    vrrp_min_garp: bool = False
    vrrp_down_timer_adverts: int = 3
    vrrp_lower_prio_no_advert: bool = False
    vrrp_higher_prio_send_advert: bool = False
    vrrp_strict: bool = False
    vrrp_skip_check_adv_addr: bool = False
    vrrp_check_unicast_src: bool = False
    vrrp_notify_priority_changes: bool = False
    vrrp_startup_delay: float = 0.0
    notify_fifo: str | None = None
    notify_fifo_script: str | None = None
    vrrp_notify_fifo: str | None = None
    vrrp_notify_fifo_script: str | None = None
    notification_email: tuple[str, ...] = ()
    notification_email_from: str | None = None
    smtp_server: str | None = None
    smtp_connect_timeout: int | None = None
    smtp_alert: bool = False
    default_interface: str | None = None
    dynamic_interfaces: bool = False
    vmac_prefix: str | None = None
    state_dump_file: str = "/tmp/keepalived.data"
    stats_dump_file: str = "/tmp/keepalived.stats"
    json_dump_file: str = "/tmp/keepalived.json"
    max_auto_priority: int | None = None
    #: Every keyword as written, for the ones the daemon does not read yet.
    raw: tuple[tuple[str, tuple[str, ...]], ...] = ()
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class GenericStatement:
    """A statement the daemon does not interpret yet, kept whole (load balancer, BFD, ...)."""

    keyword: str
    args: tuple[str, ...] = ()
    block: tuple[GenericStatement, ...] | None = None
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class RealServer:
    address: str
    port: int | None
    checkers: tuple[str, ...]
    body: tuple[GenericStatement, ...]
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class VirtualServer:
    """``virtual_server IP PORT``, ``virtual_server fwmark N`` or ``virtual_server group NAME``."""

    kind: Literal["address", "fwmark", "group"]
    target: str
    port: int | None
    real_servers: tuple[RealServer, ...]
    body: tuple[GenericStatement, ...]
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


@dataclass(frozen=True)
class VirtualServerGroup:
    name: str
    entries: tuple[tuple[str, ...], ...]
    loc: Location = field(default=NOWHERE, compare=False, repr=False)


def _no_lvs() -> LvsConfig:
    # Imported on use: pykeepalived.lvs.model imports config.diagnostics, which loads this
    # package; a module-level import here would close that loop while either is half loaded.
    from pykeepalived.lvs.model import LvsConfig

    return LvsConfig()


@dataclass(frozen=True)
class KeepalivedConfig:
    global_defs: GlobalDefs = GlobalDefs()
    vrrp_scripts: Mapping[str, VrrpScript] = field(default_factory=dict)
    track_files: Mapping[str, TrackFileDef] = field(default_factory=dict)
    track_processes: Mapping[str, TrackProcessDef] = field(default_factory=dict)
    vrrp_instances: tuple[VrrpInstance, ...] = ()
    sync_groups: tuple[SyncGroup, ...] = ()
    static_addresses: tuple[VirtualIP, ...] = ()
    static_routes: tuple[VirtualRoute, ...] = ()
    static_rules: tuple[VirtualRule, ...] = ()
    virtual_server_groups: tuple[VirtualServerGroup, ...] = ()
    virtual_servers: tuple[VirtualServer, ...] = ()
    #: The load balancer, resolved: virtual servers, real servers, checkers, groups, SSL.
    lvs: LvsConfig = field(default_factory=_no_lvs)
    #: Top-level blocks kept generically (SSL, bfd_instance, garp_group, net_namespace, ...).
    other: tuple[GenericStatement, ...] = ()
    #: Every file read, the main one first.
    files: tuple[str, ...] = ()

    def instance(self, name: str) -> VrrpInstance | None:
        for inst in self.vrrp_instances:
            if inst.name == name:
                return inst
        return None
