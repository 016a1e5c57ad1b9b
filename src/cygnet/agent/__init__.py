"""The agent: one per node; runs kernels on a container runtime (built in a later issue)."""
