"""The ``process`` runtime: kernels as local process groups on the agent's host, no containers.

Limits come from cgroups (v1 or v2) where the agent may create them, else from rlimits and CPU
affinity. ``/home/work`` maps to the kernel's scratch directory and ``/opt/cygnet`` to the
runner directory (see ``ProcessRuntime.kernel_path``).
"""
