"""Kernel runtimes: one small ABC (``base.py``) and one sub-package per backend."""
