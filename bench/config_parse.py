"""Benchmark: parse a generated 10,000-instance keepalived.conf (target: under one second).

Run: python3 bench/config_parse.py [N]. Prints the time of the lexer+parser alone and of the full
load (model and validation), best of three runs.
"""

from __future__ import annotations

import sys
import time

from pykeepalived.config import parse_config_text
from pykeepalived.config.diagnostics import Diagnostics
from pykeepalived.config.lexer import Lexer
from pykeepalived.config.parser import parse_lines


def generate(n: int) -> str:
    out = ["global_defs {\n    router_id bench\n}\n",
           "vrrp_script chk {\n    script /bin/true\n    interval 2\n    weight -10\n}\n"]
    for i in range(n):
        iface = f"eth{i // 255}"
        vrid = i % 255 + 1
        out.append(
            f"vrrp_instance VI_{i} {{\n"
            "    state BACKUP\n"
            f"    interface {iface}\n"
            f"    virtual_router_id {vrid}\n"
            f"    priority {100 + i % 100}\n"
            "    advert_int 1\n"
            "    authentication {\n        auth_type PASS\n        auth_pass secret\n    }\n"
            "    virtual_ipaddress {\n"
            f"        10.{i // 65536}.{i // 256 % 256}.{i % 256}/32 dev {iface}  # vip\n"
            "    }\n"
            "    track_script {\n        chk\n    }\n"
            "}\n"
        )
    return "".join(out)


def best_of(runs: int, fn: object) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    text = generate(n)

    def lex_parse() -> None:
        diags = Diagnostics()
        lx = Lexer(diags, "bench")
        lx.read_text(text, "bench.conf")
        parse_lines(lx.lines, diags)

    def full() -> None:
        r = parse_config_text(text, filename="bench.conf", check_files=False)
        assert r.config is not None and len(r.config.vrrp_instances) == n, r.diagnostics[:3]

    lines = text.count("\n")
    print(f"{n} instances, {lines} lines, {len(text) / 1e6:.1f} MB")
    print(f"lex + parse:            {best_of(3, lex_parse):.3f} s")
    print(f"full load (model+checks): {best_of(3, full):.3f} s")


if __name__ == "__main__":
    main()
