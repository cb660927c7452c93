"""Admin registrations, one module per area."""

from classifier.admin import reports, runs  # noqa: F401
