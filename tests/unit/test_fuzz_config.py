"""Fuzzing the keepalived.conf loader with hypothesis, and hostile files on disk.

The loader's contract: whatever text or bytes it is given, it returns a ``LoadResult`` whose
diagnostics say what is wrong (each with a location); no exception escapes, nothing loops
forever, and a result that is not ``ok`` carries at least one error. Include loops, binary
garbage and huge files are rejected (or read) cleanly. The long run is ``bench/fuzz_long.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykeepalived.config import LoadResult, load_config, parse_config_text

SRC = str(Path(__file__).resolve().parents[2] / "src")

VALID = """\
global_defs {
    router_id fuzz
    enable_script_security
    script_user root
}
vrrp_script chk {
    script "/bin/true"
    interval 1
    weight -20
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass secret
    }
    unicast_peer {
        192.0.2.2
    }
    virtual_ipaddress {
        192.0.2.100/24 dev eth0 label eth0:1
    }
    track_script {
        chk
    }
    notify "/bin/echo a b"
}
"""

TOKENS = ["{", "}", "include", "vrrp_instance", "vrrp_script", "global_defs", "@x", "$X",
          "$X=1", "~SEQ(I,1,3)", "@^", "interface", "priority", "virtual_ipaddress", "\"",
          "'", "\\", "#", "!", "\n", " ", "\t", "\x00", "\udcff", "255", "-1", "0x10",
          "99999999999999999999", "192.0.2.1/33", "::/200", "nan", "1e309", "\u00e9",
          "track_script", "authentication", "unicast_peer", "vrrp_sync_group", "group",
          "virtual_server", "real_server", "BACKUP", "MASTER"]


def assert_clean(result: LoadResult) -> None:
    assert isinstance(result, LoadResult)
    assert result.ok or result.errors
    for d in result.diagnostics:
        # every diagnostic renders as file:line:col: severity: message
        assert str(d).startswith(f"{d.file}:{d.line}:{d.col}: {d.severity}: ")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=600))
def test_any_text_gives_a_result_never_an_exception(text: str) -> None:
    assert_clean(parse_config_text(text, check_files=False))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=80))
def test_any_token_soup_gives_a_result(words: list[str]) -> None:
    assert_clean(parse_config_text(" ".join(words), check_files=False))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_valid_config_gives_a_result(data: st.DataObject) -> None:
    lines = VALID.split("\n")
    for _ in range(data.draw(st.integers(1, 6))):
        op = data.draw(st.sampled_from(["delete", "duplicate", "insert", "swap", "cut"]))
        i = data.draw(st.integers(0, len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "insert":
            lines.insert(i, " ".join(data.draw(st.lists(st.sampled_from(TOKENS), max_size=6))))
        elif op == "swap":
            j = data.draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            cut = data.draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:cut]
        if not lines:
            lines = [""]
    assert_clean(parse_config_text("\n".join(lines), check_files=False))


def test_the_valid_config_is_valid() -> None:
    # Guards the mutation test above: it starts from a file the loader accepts.
    result = parse_config_text(VALID, check_files=False)
    assert result.ok, [str(d) for d in result.diagnostics]
    assert result.config is not None


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_binary_garbage_text_gives_a_result(blob: bytes) -> None:
    # How the loader reads files: UTF-8 with undecodable bytes kept as surrogates.
    assert_clean(parse_config_text(blob.decode("utf-8", "surrogateescape"), check_files=False))


def test_binary_garbage_files_are_rejected_cleanly(tmp_path: Path) -> None:
    import random

    rng = random.Random(8)
    for i in range(200):
        path = tmp_path / f"garbage{i}.conf"
        path.write_bytes(rng.randbytes(rng.randrange(1, 4000)))
        result = load_config(path, check_files=False)
        assert_clean(result)
    # A well-known binary: an ELF executable as configuration.
    result = load_config("/bin/true", check_files=False)
    assert_clean(result)
    assert not result.ok or result.config is not None


def test_include_loop_is_an_error_not_a_hang(tmp_path: Path) -> None:
    a, b = tmp_path / "a.conf", tmp_path / "b.conf"
    a.write_text(f"include {b}\n" + VALID)
    b.write_text(f"include {a}\n")
    self_inc = tmp_path / "self.conf"
    self_inc.write_text(f"include {self_inc}\n")
    for path in (a, self_inc):
        t = time.monotonic()
        result = load_config(path, check_files=False)
        assert time.monotonic() - t < 5
        assert not result.ok
        assert any("include loop" in str(d) for d in result.diagnostics)


def test_include_glob_of_itself_and_deep_nesting(tmp_path: Path) -> None:
    # A glob that matches the including file, and a chain of 100 files (deeper than any sane
    # setup): both load, the first with the loop reported.
    (tmp_path / "x.conf").write_text(f"include {tmp_path}/*.conf\n")
    assert_clean(load_config(tmp_path / "x.conf", check_files=False))
    result = load_config(include_chain(tmp_path, 100), check_files=False)
    assert_clean(result)
    assert result.ok and result.config is not None
    assert "VI_1" in {i.name for i in result.config.vrrp_instances}


def include_chain(tmp_path: Path, depth: int) -> Path:
    chain = tmp_path / f"chain{depth}"
    chain.mkdir()
    for i in range(depth):
        (chain / f"c{i}.conf").write_text(f"include {chain}/c{i + 1}.conf\n")
    (chain / f"c{depth}.conf").write_text(VALID)
    return chain / "c0.conf"


def load_in_child(path: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """Load ``path`` in a child with 400 MB of address space and a time limit."""
    code = ("import resource, sys\n"
            "resource.setrlimit(resource.RLIMIT_AS, (400 << 20, 400 << 20))\n"
            "from pykeepalived.config import load_config\n"
            f"r = load_config({str(path)!r}, check_files=False)\n"
            "print('ok' if r.ok else 'errors', len(r.diagnostics))\n")
    env = {**os.environ, "PYTHONPATH": SRC}
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess([], -1, "", "timeout")


def test_very_deep_include_chain_is_rejected_cleanly(tmp_path: Path) -> None:
    result = load_in_child(include_chain(tmp_path, 700), timeout=60)
    assert result.returncode == 0, result.stderr[-500:]


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_include_of_a_device_or_fifo_is_rejected(tmp_path: Path, special: str) -> None:
    target = special
    if special == "fifo":
        target = str(tmp_path / "fifo")
        os.mkfifo(target)
    conf = tmp_path / "k.conf"
    conf.write_text(f"include {target}\n" + VALID)
    result = load_in_child(conf, timeout=4)
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout.startswith("errors")


def test_huge_sequence_is_rejected_cleanly(tmp_path: Path) -> None:
    conf = tmp_path / "seq.conf"
    conf.write_text("~SEQ(I,1,99999999999) vrrp_instance S$I { interface eth0 }\n")
    result = load_in_child(conf, timeout=30)
    assert result.returncode == 0, result.stderr[-500:]


def test_huge_file_is_read_in_bounded_time(tmp_path: Path) -> None:
    # 16 MB in 16 lines of one unknown keyword: loaded, diagnosed, not crashed.
    path = tmp_path / "huge.conf"
    with open(path, "w") as f:
        f.write(VALID)
        f.write(("x" * 1_000_000 + "\n") * 16)
    t = time.monotonic()
    result = load_config(path, check_files=False)
    assert time.monotonic() - t < 30
    assert_clean(result)
    assert len(result.warnings) >= 16


def test_a_self_referring_parameter_fails_with_a_message_not_memory() -> None:
    # Found by the mutation test: each level doubles the line, 2^64 at the depth limit.
    result = parse_config_text("$X=$X $X\n$X\n", check_files=False)
    assert any("expands to more than" in str(d) for d in result.errors)
