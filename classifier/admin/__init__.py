"""Admin registrations, one module per area."""

from classifier.admin import photos, reports, runs, tokens, webhooks  # noqa: F401
