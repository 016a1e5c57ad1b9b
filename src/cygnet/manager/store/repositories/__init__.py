"""The only code that touches ORM rows: queries and writes, one module per resource.

Functions take an ``AsyncSession`` (the caller's transaction) and return ``manager.entities``
objects, never rows.
"""
