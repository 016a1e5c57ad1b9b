"""The ``docker`` runtime: kernels as Docker containers, driven through the Engine API
(aiodocker). Found by name through the ``cygnet.runtimes`` entry point; import
``backend.DockerRuntime`` only through the runtime registry."""
