"""The agent registry (registration, heartbeats, liveness) and the RPC client for agents."""
