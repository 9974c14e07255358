"""Linx: keeps Procore and ExakTime in step."""

__version__ = "0.1.0"
