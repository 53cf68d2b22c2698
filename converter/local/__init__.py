"""The local engine: Sigma rules over raw Kamal logs in DuckDB (`kamal-siem hunt`)."""
