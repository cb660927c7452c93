"""Reads. Each module holds the plain functions that fetch one kind of record for a page."""
