"""Writes. Each module holds the plain functions that change one kind of record."""
