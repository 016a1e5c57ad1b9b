"""What runs inside a kernel on the agent's behalf.

The agent copies this directory to a host directory that kernels see, read-only, at
``/opt/cygnet`` (``RUNNER_DIR``). Its scripts are self-contained and use only the standard
library, so any Python >= 3.8 in any image can run them: ``repl.py`` is the persistent Python
REPL behind query-mode execution (see its docstring for the protocol).
"""
