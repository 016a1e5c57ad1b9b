"""The app proxy: routes user traffic to services inside sessions (built in a later issue)."""
