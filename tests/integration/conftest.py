"""Integration tests: a real Celery worker (the session-wide `worker` fixture, from tests/conftest.py)."""
