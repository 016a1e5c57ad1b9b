"""Accelerator plugins (entry-point group ``cygnet.accelerators``): ``mock``, ``cuda``."""
