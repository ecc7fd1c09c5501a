"""Shared helpers for the configuration tests."""
