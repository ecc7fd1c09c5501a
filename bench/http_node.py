"""A tiny HTTP/1.0 server for the client-downtime benchmark: answers with its node name.

Run inside a node namespace: ``python3 bench/http_node.py NAME PORT``. Single-threaded (selectors),
so it costs next to nothing while idle and answers within microseconds.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import sys


def serve(name: str, port: int) -> None:
    body = name.encode()
    reply = (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
             + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Bound to the wildcard address, so it answers on the VIP whenever the node holds it.
    lsock.bind(("0.0.0.0", port))
    lsock.listen(512)
    lsock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ, None)
    while True:
        for key, _ in sel.select():
            if key.data is None:
                try:
                    conn, _addr = lsock.accept()
                except BlockingIOError:
                    continue
                conn.setblocking(False)
                sel.register(conn, selectors.EVENT_READ, b"")
                continue
            conn = key.fileobj  # type: ignore[assignment]
            try:
                data = conn.recv(4096)
            except (BlockingIOError, ConnectionError):
                data = b""
            buf = key.data + data
            if data and b"\r\n\r\n" not in buf:
                sel.modify(conn, selectors.EVENT_READ, buf)
                continue
            sel.unregister(conn)
            if data:
                with contextlib.suppress(OSError):
                    conn.send(reply)
            conn.close()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
