"""The ``cygnet`` command: the client CLI plus the commands that start servers (``up``,
``manager serve``). It composes components, so it is the one package that imports several."""
