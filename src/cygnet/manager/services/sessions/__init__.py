"""Compute sessions: the use cases behind the session API."""

from cygnet.manager.services.sessions.service import SessionService
from cygnet.manager.services.sessions.spec import CreatedSession, SessionSpec

__all__ = ["CreatedSession", "SessionService", "SessionSpec"]
