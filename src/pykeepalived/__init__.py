"""pykeepalived: a keepalived-compatible VRRP high-availability daemon."""

__version__ = "0.1.0"
