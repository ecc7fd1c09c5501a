"""The client of the client-downtime benchmark: a new HTTP request to the VIP every 5 ms.

Run inside the client namespace: ``python3 bench/http_probe.py VIP PORT SECONDS OUT``. Each probe
opens a new TCP connection, sends ``GET /`` and waits up to 50 ms for the whole answer; probes
overlap, so one that hangs does not delay the next. Writes one line per probe to OUT:
``<monotonic start> <ok 0/1> <node name or ->``. CLOCK_MONOTONIC is the same in every network
namespace, so the times line up with the benchmark's fault moments.
"""

from __future__ import annotations

import errno
import selectors
import socket
import sys
import time

PERIOD = 0.005
TIMEOUT = 0.050


def probe(vip: str, port: int, seconds: float, out_path: str) -> None:
    sel = selectors.DefaultSelector()
    results: list[tuple[float, int, str]] = []
    pending: dict[socket.socket, tuple[float, bytearray, bool]] = {}  # start, buffer, sent
    request = b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n"
    start = time.monotonic()
    next_probe = start
    end = start + seconds

    def finish(s: socket.socket, ok: bool) -> None:
        t0, buf, _ = pending.pop(s)
        sel.unregister(s)
        s.close()
        name = "-"
        if ok:
            head, sep, body = bytes(buf).partition(b"\r\n\r\n")
            ok = bool(sep) and head.startswith(b"HTTP/1.0 200")
            name = body.decode(errors="replace") or "-" if ok else "-"
        results.append((t0, int(ok), name))

    while True:
        now = time.monotonic()
        if now >= next_probe and now < end:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex((vip, port))
            if err not in (0, errno.EINPROGRESS):
                s.close()
                results.append((now, 0, "-"))
            else:
                pending[s] = (now, bytearray(), False)
                sel.register(s, selectors.EVENT_WRITE)
            next_probe += PERIOD
            if next_probe < now:  # never burst to catch up after a stall
                next_probe = now + PERIOD
        for s, (t0, _buf, _sent) in list(pending.items()):
            if now - t0 > TIMEOUT:
                finish(s, False)
        if now >= end and not pending:
            break
        wait = max(0.0, min(next_probe - now, 0.002))
        for key, _ in sel.select(wait):
            s = key.fileobj  # type: ignore[assignment]
            if s not in pending:
                continue
            t0, buf, sent = pending[s]
            if not sent:
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    finish(s, False)
                    continue
                try:
                    s.send(request)
                except OSError:
                    finish(s, False)
                    continue
                pending[s] = (t0, buf, True)
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(4096)
            except OSError:
                finish(s, False)
                continue
            if data:
                buf.extend(data)
            else:
                finish(s, time.monotonic() - t0 <= TIMEOUT)
    with open(out_path, "w") as f:
        for t0, ok, name in results:
            f.write(f"{t0:.6f} {ok} {name}\n")


if __name__ == "__main__":
    probe(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4])
