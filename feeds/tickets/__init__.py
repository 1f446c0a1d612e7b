"""Ticket feed adapters: the canonical CSV / JSON Lines format and Open311 GeoReport v2."""
