"""Property: a valid configuration survives dump -> render -> parse -> dump unchanged."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pykeepalived.config import parse_config_text
from pykeepalived.config.dump import dump_config, render_config

names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True)


@st.composite
def configs(draw: st.DrawFn) -> str:
    scripts = draw(st.lists(names, max_size=3, unique=True))
    lines = ["global_defs {"]
    if draw(st.booleans()):
        lines.append(f" router_id {draw(names)}")
    lines.append(f" vrrp_garp_master_repeat {draw(st.integers(0, 10))}")
    if draw(st.booleans()):
        lines.append(" vrrp_lower_prio_no_advert")
    lines.append("}")
    for s in scripts:
        lines += [f"vrrp_script {s} {{", ' script "/bin/true arg"',
                  f" interval {draw(st.integers(1, 60))}",
                  f" weight {draw(st.integers(-253, 253))}"
                  + draw(st.sampled_from(["", " reverse"])),
                  f" rise {draw(st.integers(1, 5))}", f" fall {draw(st.integers(1, 5))}", "}"]
    n = draw(st.integers(1, 4))
    for i in range(n):
        v6 = draw(st.booleans())
        lines += [f"vrrp_instance VI_{i} {{", f" interface eth{i}",
                  f" virtual_router_id {i + 1}",
                  f" priority {draw(st.integers(1, 254))}",
                  f" state {draw(st.sampled_from(['MASTER', 'BACKUP']))}"]
        if v6:
            lines.append(f" advert_int {draw(st.integers(1, 4095)) / 100}")
        else:
            lines.append(f" advert_int {draw(st.integers(1, 255))}")
        if draw(st.booleans()):
            lines.append(f" garp_master_delay {draw(st.integers(0, 255))}")
        if draw(st.booleans()):
            lines.append(" no_accept")
        vips = draw(st.lists(st.integers(1, 254), min_size=1, max_size=4, unique=True))
        lines.append(" virtual_ipaddress {")
        for host in vips:
            if v6:
                lines.append(f"  2001:db8::{host:x}/64")
            else:
                extra = draw(st.sampled_from(["", f" dev eth{i}", " label eth0:1", " no_track",
                                              " scope link"]))
                lines.append(f"  192.0.2.{host}/24{extra}")
        lines.append(" }")
        if scripts and draw(st.booleans()):
            lines.append(" track_script {")
            for s in draw(st.lists(st.sampled_from(scripts), min_size=1, unique=True)):
                w = draw(st.sampled_from(["", " weight 10", " weight -5 reverse"]))
                lines.append(f"  {s}{w}")
            lines.append(" }")
        if not v6 and draw(st.booleans()):
            lines += [" unicast_src_ip 192.0.2.250", " unicast_peer {", "  192.0.2.251", " }"]
        if draw(st.booleans()):
            lines.append(' notify "/bin/echo hello world"')
        lines.append("}")
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None)
@given(configs())
def test_dump_render_parse_dump_is_stable(text: str) -> None:
    first = parse_config_text(text, check_files=False)
    assert first.ok, [str(d) for d in first.diagnostics]
    assert first.config is not None
    dump1 = dump_config(first.config)
    second = parse_config_text(render_config(dump1), check_files=False)
    assert second.ok, [str(d) for d in second.diagnostics]
    assert second.config is not None
    assert dump_config(second.config) == dump1
