"""The asyncio daemon that drives the core against the real kernel."""
