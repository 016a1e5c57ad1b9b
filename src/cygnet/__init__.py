"""Cygnet: an open-source AI infrastructure platform."""

__version__ = "0.1.0"
