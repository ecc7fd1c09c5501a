"""Each feature of keepalived's configuration language, through the public loader."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from pykeepalived.config import load_config, parse_config_text
from pykeepalived.config.diagnostics import Location
from pykeepalived.config.lexer import LBRACE, WORD, Diagnostics, Lexer, token_columns

BASE = """
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        192.0.2.10/24
    }
}
"""


def load(text: str, **kw: object) -> object:
    return parse_config_text(text, check_files=False, **kw)  # type: ignore[arg-type]


def tokens(text: str, config_id: str = "main") -> list[list[tuple[str, int, int]]]:
    lx = Lexer(Diagnostics(), config_id)
    lx.read_text(text, "t.conf")
    return [[(w, line, c) for w, c in zip(words, token_columns(src, col), strict=True)]
            for _, line, col, src, words, _ in lx.lines]


def test_tokens_keep_line_and_column() -> None:
    assert tokens("a b {\n  c 1\n}\n") == [
        [("a", 1, 1), ("b", 1, 3), ("{", 1, 5)],
        [("c", 2, 3), ("1", 2, 5)],
        [("}", 3, 1)],
    ]


def test_comments_hash_and_bang_anywhere_but_not_in_quotes() -> None:
    assert tokens('# whole\n! whole\nx 1 # tail\ny "a#b" ! tail\n') == [
        [("x", 3, 1), ("1", 3, 3)],
        [("y", 4, 1), ("a#b", 4, 3)],
    ]


def test_quotes_group_words_like_the_shell() -> None:
    lines = tokens("""s abcd" efg h jkl "mnop\nt abcd "efg h jkl" mnop\nu "a\\tb\\x41\\"c"\n""")
    assert [w for w, _, _ in lines[0]] == ["s", "abcd efg h jkl mnop"]
    assert [w for w, _, _ in lines[1]] == ["t", "abcd", "efg h jkl", "mnop"]
    assert lines[2][1][0] == 'a\tbA"c'


def test_braces_on_one_line_and_on_the_next() -> None:
    r = load("vrrp_instance VI_1\n{\n interface eth0\n virtual_router_id 7\n"
             " virtual_ipaddress { 192.0.2.1 }\n}\n")
    assert r.ok, r.diagnostics
    inst = r.config.vrrp_instances[0]
    assert inst.virtual_router_id == 7
    assert [str(v.address.ip) for v in inst.virtual_ipaddresses] == ["192.0.2.1"]


def test_unbalanced_braces_are_errors_with_location() -> None:
    r = load("vrrp_instance VI_1 {\n interface eth0\n")
    assert not r.ok
    assert any("never closed" in d.message and d.line == 1 for d in r.errors)
    r = load("}\n")
    assert any("without a block" in d.message and (d.line, d.col) == (1, 1) for d in r.errors)


def test_conditional_lines_follow_the_config_id() -> None:
    text = BASE.replace("interface eth0", "@main interface eth0\n@backup interface eth1\n"
                        "@^main priority 50\n@^backup priority 200")
    main = load(text, config_id="main").config.vrrp_instances[0]
    backup = load(text, config_id="backup").config.vrrp_instances[0]
    assert (main.interface, main.priority) == ("eth0", 200)
    assert (backup.interface, backup.priority) == ("eth1", 50)


def test_parameters_dollar_and_braces_recursive_and_late_bound() -> None:
    text = ("$ADDRESS_BASE=192.0.2.${SUB}\n$SUB=1\n$PRIO=120\n"
            + BASE.replace("192.0.2.10/24", "${ADDRESS_BASE}0/24").replace(
                "interface eth0", "interface eth0\n priority $PRIO"))
    inst = load(text).config.vrrp_instances[0]
    assert inst.priority == 120
    assert str(inst.virtual_ipaddresses[0].address) == "192.0.2.10/24"


def test_undefined_parameter_is_left_alone() -> None:
    r = load(BASE.replace("interface eth0", 'interface eth0\n notify "/bin/echo $UNDEF"'))
    assert r.config.vrrp_instances[0].notify == "/bin/echo $UNDEF"


def test_multiline_definition_with_continuations() -> None:
    text = """$INST= \\
vrrp_instance VI_${N} { \\
    interface eth0 \\
    virtual_router_id ${N} \\
    virtual_ipaddress { \\
        192.0.2.${N}/24 \\
    } \\
}
$N=1
$INST
$N=2
$INST
"""
    r = load(text)
    assert r.ok, r.diagnostics
    assert [(i.name, i.virtual_router_id) for i in r.config.vrrp_instances] == [
        ("VI_1", 1), ("VI_2", 2)]
    # Text from a parameter keeps the position of the line that used it.
    assert r.config.vrrp_instances[1].loc.line == 12


def test_seq_and_seqx_repeat_a_line() -> None:
    text = BASE.replace("192.0.2.10/24", "~SEQ(N, 1, 2, 7) 192.0.2.${N}/24\n"
                        "~SEQx(H, 0x9, 0x10) 2001:db8::${H}/64")
    r = load(text)
    vips = [str(v.address.ip) for v in r.config.vrrp_instances[0].virtual_ipaddresses]
    assert vips[:4] == ["192.0.2.1", "192.0.2.3", "192.0.2.5", "192.0.2.7"]
    # Mixed families in one instance: reported.
    assert any("IPv6" in d.message for d in r.diagnostics)


def test_lst_with_grouped_variables() -> None:
    text = BASE.replace("192.0.2.10/24", "~LST({A, B}, {1,2},{3,4}) 192.0.${A}.${B}/24")
    vips = [str(v.address.ip) for v in load(text).config.vrrp_instances[0].virtual_ipaddresses]
    assert vips == ["192.0.1.2", "192.0.3.4"]


def test_include_relative_to_the_including_file_with_globs(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "a.conf").write_text(BASE)
    (tmp_path / "conf.d" / "b.conf").write_text(BASE.replace("VI_1", "VI_2").replace("51", "52"))
    (tmp_path / "conf.d" / "inner").mkdir()
    (tmp_path / "conf.d" / "c.conf").write_text("include inner/*.conf\n")
    (tmp_path / "conf.d" / "inner" / "s.conf").write_text("vrrp_script s {\n script /bin/true\n}\n")
    main = tmp_path / "keepalived.conf"
    main.write_text("include conf.d/*.conf\n")
    cwd = os.getcwd()
    os.chdir("/")
    try:
        r = load_config(main, check_files=False)
    finally:
        os.chdir(cwd)
    assert r.ok, r.diagnostics
    assert [i.name for i in r.config.vrrp_instances] == ["VI_1", "VI_2"]
    assert "s" in r.config.vrrp_scripts
    assert len(r.config.files) == 5


def test_include_brace_expansion(tmp_path: Path) -> None:
    (tmp_path / "x.conf").write_text(BASE)
    (tmp_path / "y.conf").write_text(BASE.replace("VI_1", "VI_9").replace("51", "59"))
    main = tmp_path / "k.conf"
    main.write_text("include {x,y}.conf\n")
    r = load_config(main, check_files=False)
    assert [i.name for i in r.config.vrrp_instances] == ["VI_1", "VI_9"]


def test_missing_include_is_a_clear_error_in_the_config_test(tmp_path: Path) -> None:
    main = tmp_path / "k.conf"
    main.write_text(BASE + "include nothere.conf\n")
    strict = load_config(main, strict=True, check_files=False)
    assert not strict.ok
    (err,) = strict.errors
    assert (err.file, err.line, err.col) == (str(main), 9, 1)
    assert "nothere.conf not found" in err.message
    lenient = load_config(main, check_files=False)
    assert lenient.ok and lenient.warnings


def test_include_loop_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("include b.conf\n")
    (tmp_path / "b.conf").write_text(BASE + "include a.conf\n")
    r = load_config(tmp_path / "a.conf", check_files=False)
    assert not r.ok
    assert any("include loop" in d.message and d.file.endswith("b.conf") for d in r.errors)
    assert len(r.config.vrrp_instances) == 1


def test_missing_main_file() -> None:
    r = load_config("/nonexistent/keepalived.conf")
    assert r.config is None and not r.ok
    assert "cannot read" in r.errors[0].message


def test_predefined_parameters(tmp_path: Path) -> None:
    f = tmp_path / "k.conf"
    f.write_text(BASE.replace("interface eth0", 'interface eth0\n notify "${_PWD}/n ${_INSTANCE}'
                              '${_HASH}${_BANG}"'))
    r = load_config(f, config_id="node7", check_files=False)
    assert r.config.vrrp_instances[0].notify == f"{tmp_path}/n node7#!"


def test_diagnostic_format() -> None:
    r = load(BASE.replace("interface eth0", "interface eth0\n    priorty 100"), strict=True)
    (err,) = r.errors
    assert str(err) == "<string>:4:5: error: unknown keyword 'priorty' in vrrp_instance " \
        "(did you mean 'priority'?)"
    assert err.loc == Location("<string>", 4, 5)
    # The daemon is lenient: the same problem is only a warning.
    assert load(BASE.replace("interface eth0", "interface eth0\n priorty 100")).ok


def test_token_kinds() -> None:
    lx = Lexer(Diagnostics(), "x")
    lx.read_text('a "{" {\n', "f")
    assert lx.lines[0][5] == [WORD, WORD, LBRACE]
    assert lx.lines[0][4] == ["a", "{", "{"]


def test_full_test_config_loads() -> None:
    path = Path(__file__).parents[2] / "configs" / "full.conf"
    r = load_config(path, strict=True, check_files=True)
    assert r.ok, [str(d) for d in r.diagnostics]
    vi1 = r.config.instance("VI_1")
    assert vi1 is not None
    assert vi1.auth_pass == "secret12"
    assert vi1.garp_master_delay == 3 and vi1.garp_master_repeat == 2
    assert vi1.garp_lower_prio_delay == 3
    assert vi1.virtual_ipaddresses[0].label == "eth0:1"
    assert vi1.virtual_ipaddresses_excluded[0].address == ipaddress.ip_interface("2001:db8::10/64")
    assert vi1.track_scripts[0].weight == -30
    vi6 = r.config.instance("VI_6")
    assert vi6 is not None and vi6.version == 3 and vi6.family == 6
    assert vi6.advert_int == pytest.approx(0.5)
    assert r.config.vrrp_scripts["chk_true"].fall == 3
