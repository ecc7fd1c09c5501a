"""The load-balancing side: keepalived's virtual_server / real_server, their health checkers,
and the forwarding plane (nftables) they keep in step with the checkers' verdicts."""


def checker_socket(control_socket: str) -> str:
    """The health-checker child's control socket: beside the VRRP child's
    (``control.sock`` -> ``control.checkers.sock``)."""
    base = control_socket[:-5] if control_socket.endswith(".sock") else control_socket
    return f"{base}.checkers.sock"
