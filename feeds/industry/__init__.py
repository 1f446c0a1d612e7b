"""Industry feed adapter: CSV / XLSX of enterprise indicators (per-mu board)."""
