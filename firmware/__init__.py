"""wsd-scan-server: a WS-Scan network scanner service over SANE."""

__version__ = "0.1.0"
