"""Types, errors and helpers shared by every Cygnet component. Imports nothing else from cygnet."""
