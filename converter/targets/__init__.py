"""The content compiled for each target SIEM (`kamal-siem build`)."""
