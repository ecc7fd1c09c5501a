"""Kernel-facing pieces: raw sockets, netlink, packet capture helpers."""
