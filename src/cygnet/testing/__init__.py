"""Reusable test support shipped with Cygnet: run a real manager in-process, sign requests."""
