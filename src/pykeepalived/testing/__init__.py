"""Test support shipped with the package: the simulated network and clock."""
