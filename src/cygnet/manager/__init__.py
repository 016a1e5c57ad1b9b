"""The manager: API, auth, state store, scheduler and lifecycle."""
