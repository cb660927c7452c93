"""Admin registrations, one module per area."""

from classifier.admin import runs  # noqa: F401
