"""The auth_hmac block as keepalived 2.4 reads it: keywords, key forms, its checks with
file:line, and ${_ENV NAME} so that keys can come from the environment (systemd
credentials)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pykeepalived.config import LoadResult, parse_config_text
from pykeepalived.core.hmac_auth import Mode
from pykeepalived.daemon import runtime

HEX = "hex:" + bytes(range(32)).hex()


def conf(body: str, extra: str = "") -> str:
    return (f"vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n{extra}"
            f"    auth_hmac {{\n{body}    }}\n"
            "    virtual_ipaddress {\n        192.0.2.100/24\n    }\n}\n")


def parse(text: str, strict: bool = False) -> LoadResult:
    return parse_config_text(text, filename="k.conf", check_files=False, strict=strict)


def test_keys_in_every_form_and_the_defaults(tmp_path: Path) -> None:
    keyfile = tmp_path / "k3"
    keyfile.write_text("hex:" + "ab" * 48 + "\n")
    keyfile.chmod(0o600)
    r = parse(conf(f"        key 1 {HEX}\n        key 2 {'p' * 40}\n"
                   f"        key 3 file:{keyfile}\n        active_key 2\n"), strict=True)
    assert r.ok, [str(d) for d in r.errors]
    assert r.config is not None
    h = r.config.vrrp_instances[0].auth_hmac
    assert h is not None
    assert h.keys == ((1, bytes(range(32))), (2, b"p" * 40), (3, b"\xab" * 48))
    assert (h.active_key, h.anti_replay, h.mode, h.time_window) == (2, "time", "enforce", None)
    hc = runtime.hmac_config(r.config.vrrp_instances[0])
    assert hc is not None and (hc.mode, hc.anti_replay_time, hc.time_window) == (
        Mode.ENFORCE, True, 5)


@pytest.mark.parametrize(("body", "message"), [
    ("        key 1 short\n        active_key 1\n",
     "(VI_1) auth_hmac key 1 length 5 not in range [32, 64]"),
    (f"        key 0 {HEX}\n        active_key 1\n",
     "(VI_1) auth_hmac key id '0' must be between 1 and 255"),
    (f"        key 1 {HEX}\n        key 1 {HEX}\n        active_key 1\n",
     "(VI_1) duplicate auth_hmac key id 1"),
    (f"        key 1 {HEX}\n        active_key 1\n        time_window 301\n",
     "(VI_1) auth_hmac time_window '301' must be between 1 and 300 seconds"),
    (f"        key 1 {HEX}\n        active_key 1\n        mode strict\n",
     "(VI_1) auth_hmac mode 'strict' must be enforce, permissive or receive-only"),
    (f"        key 1 {HEX}\n        active_key 1\n        anti_replay never\n",
     "(VI_1) auth_hmac anti_replay 'never' must be time or monotonic"),
    (f"        key 1 {HEX}\n        active_key 2\n",
     "(VI_1) auth_hmac active_key 2 is not defined, disabling extension"),
    (f"        key 1 {HEX}\n", "(VI_1) auth_hmac active_key 0 is not defined, disabling extension"),
])
def test_keepalived_s_checks_with_their_place(body: str, message: str) -> None:
    r = parse(conf(body))
    assert message in [d.message for d in r.warnings], [str(d) for d in r.warnings]
    assert all(d.file == "k.conf" and d.line > 0 for d in r.warnings)
    assert not parse(conf(body), strict=True).ok  # -t fails on each of them


def test_a_key_file_others_can_read_is_said(tmp_path: Path) -> None:
    keyfile = tmp_path / "k1"
    keyfile.write_text(HEX)
    keyfile.chmod(0o644)
    r = parse(conf(f"        key 1 file:{keyfile}\n        active_key 1\n"))
    assert f"(VI_1) auth_hmac key file '{keyfile}' is readable by group or others" in [
        d.message for d in r.warnings]
    assert r.config is not None and r.config.vrrp_instances[0].auth_hmac is not None
    missing = parse(conf(f"        key 1 file:{tmp_path}/absent\n        active_key 1\n"))
    assert f"(VI_1) auth_hmac key file '{tmp_path}/absent' cannot be opened" in [
        d.message for d in missing.warnings]


def test_legacy_authentication_gives_way() -> None:
    legacy = "    authentication {\n        auth_type PASS\n        auth_pass secret\n    }\n"
    r = parse(conf(f"        key 1 {HEX}\n        active_key 1\n", extra=legacy))
    assert "(VI_1) auth_hmac cannot be combined with authentication, dropping legacy auth" in [
        d.message for d in r.warnings]
    assert r.config is not None
    inst = r.config.vrrp_instances[0]
    assert inst.auth_type is None and inst.auth_hmac is not None


def test_strict_mode_forces_enforce() -> None:
    r = parse(conf(f"        key 1 {HEX}\n        active_key 1\n        mode permissive\n",
                   extra="    strict_mode\n"))
    assert r.config is not None
    h = r.config.vrrp_instances[0].auth_hmac
    assert h is not None and h.mode == "enforce"
    assert "(VI_1) strict mode requires auth_hmac mode enforce" in [
        d.message for d in r.warnings]


def test_env_expands_as_keepalived_2_4(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYK_TEST_KEY", HEX)
    r = parse(conf("        key 1 ${_ENV PYK_TEST_KEY}\n        active_key 1\n"), strict=True)
    assert r.ok and r.config is not None
    h = r.config.vrrp_instances[0].auth_hmac
    assert h is not None and h.keys == ((1, bytes(range(32))),)
    assert os.environ.get("PYK_UNSET_VAR") is None
    unset = parse(conf("        key 1 x${_ENV PYK_UNSET_VAR}\n        active_key 1\n"))
    assert "(VI_1) auth_hmac key 1 length 1 not in range [32, 64]" in [
        d.message for d in unset.warnings]
