"""Admin registrations, one module per area."""

from classifier.admin import photos, runs  # noqa: F401
