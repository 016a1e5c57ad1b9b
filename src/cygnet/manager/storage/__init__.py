"""The manager's side of the storage proxies: an HTTP client of each proxy's manager-facing
API (shared secret) and the registry of vfolder hosts (``<proxy>:<volume>``)."""

from cygnet.manager.storage.client import StorageProxyClient
from cygnet.manager.storage.registry import StorageProxies

__all__ = ["StorageProxies", "StorageProxyClient"]
