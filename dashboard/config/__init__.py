"""Settings (TOML + environment) and the schema that checks them."""
