"""kamal-siem: SIEM content for Kamal (parsers, detections, Splunk and Elastic builds, local engine)."""

__version__ = "0.1.0"
