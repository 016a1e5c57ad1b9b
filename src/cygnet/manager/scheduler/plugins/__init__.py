"""Built-in scheduler plugins, one policy per module, registered by name in
``cygnet.scheduler_plugins`` (see ``cygnet.manager.scheduler.registry``)."""
