"""Interoperability with real keepalived: mixed clusters, the wire and the logs."""
