"""Real servers and clients for the load-balancer tests: small Python programs run in lab nodes.

- :data:`HTTP_SERVER`: a threaded HTTP/1.0 server on port 80 answering every path with the
  node's name (``/health`` too), started with :func:`start_web`, stopped by PID.
- :data:`CLIENT`: new TCP connections to ``VIP:80``, one HTTP request each, written as JSON
  lines ``[t, "ok", server]`` / ``[t, "fail", reason]`` (``t`` wall-clock, so it can be set
  against the daemons' log times) until a count is reached or a stop file appears; the source
  address can be chosen (``--bind``) to play several clients.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.netns.lab import Node

HTTP_SERVER = r"""
import http.server, socketserver, sys
NAME = sys.argv[1].encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(NAME)))
        self.end_headers()
        self.wfile.write(NAME)
    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256
S(("0.0.0.0", int(sys.argv[2]) if len(sys.argv) > 2 else 80), H).serve_forever()
"""

CLIENT = r"""
import json, os, socket, sys, time
vip, count, stop, bind = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
timeout = float(sys.argv[5])
pause = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
out = sys.stdout
n = 0
while (count == 0 or n < count) and not (stop and os.path.exists(stop)):
    n += 1
    t = time.time()
    s = socket.socket()
    s.settimeout(timeout)
    try:
        if bind:
            s.bind((bind, 0))
        s.connect((vip, 80))
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        body = data.split(b"\r\n\r\n", 1)[1].decode() if b"\r\n\r\n" in data else ""
        out.write(json.dumps([t, "ok", body] if body else [t, "fail", "empty"]) + "\n")
    except OSError as exc:
        out.write(json.dumps([t, "fail", type(exc).__name__]) + "\n")
    finally:
        s.close()
    out.flush()
    if pause:
        time.sleep(pause)
"""


def start_web(node: Node, name: str | None = None, port: int = 80) -> subprocess.Popen[Any]:
    proc = node.popen([sys.executable, "-c", HTTP_SERVER, name or node.name, str(port)],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if node.exec(["python3", "-c", "import socket; socket.create_connection("
                      f"('127.0.0.1', {port}), 0.2).close()"]).returncode == 0:
            return proc
        time.sleep(0.05)
    raise AssertionError(f"web server on {node.name} did not start")


def stop_web(proc: subprocess.Popen[Any]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=5)


def run_client(node: Node, vip: str, count: int, *, bind: str = "", timeout: float = 1.0
               ) -> list[list[Any]]:
    """``count`` requests, one after the other; their results."""
    proc = node.exec([sys.executable, "-c", CLIENT, vip, str(count), "", bind, str(timeout)],
                     timeout=600)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


class LoadClient:
    """Requests in a loop in the background until :meth:`stop`; then its results."""

    def __init__(self, node: Node, vip: str, tmp: Path, *, timeout: float = 0.5,
                 pause: float = 0.01) -> None:
        self.stopfile = tmp / f"stop-{node.name}-{time.monotonic_ns()}"
        self.outfile = tmp / f"load-{node.name}-{time.monotonic_ns()}.jsonl"
        self._out = open(self.outfile, "w")  # noqa: SIM115 - closed in stop()
        self.proc = node.popen([sys.executable, "-c", CLIENT, vip, "0", str(self.stopfile), "",
                                str(timeout), str(pause)], stdout=self._out,
                               stderr=subprocess.DEVNULL)

    def results(self) -> list[list[Any]]:
        text = self.outfile.read_text()
        return [json.loads(line) for line in text.splitlines() if line.endswith("]")]

    def stop(self) -> list[list[Any]]:
        self.stopfile.touch()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._out.close()
        return self.results()


def shares(results: list[list[Any]]) -> Counter[str]:
    return Counter(r[2] for r in results if r[1] == "ok")


def failures(results: list[list[Any]]) -> list[list[Any]]:
    return [r for r in results if r[1] != "ok"]
