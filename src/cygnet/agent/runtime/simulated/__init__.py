"""The ``simulated`` runtime: kernels that exist only as state blobs, for tests and benchmarks.

See ``backend.py`` for what is simulated and ``config.py`` for the options.
"""
