"""The storage proxy: serves the volumes that hold vfolders (built in a later issue)."""
