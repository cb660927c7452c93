"""The JSON API at /api/v1/ (django-ninja): the same services and selectors as the pages, for
scripts, shop systems and phones that send a personal token (`Authorization: Bearer <token>`).

Every error answers {"error": "..."}: 400 a refused request (the same refusals as the pages),
401 no or a bad token, 403 an action for staff, 404 nothing there, 429 too many requests,
503 no answer can be had now (no trained model, no worker)."""

from classifier.api.routes import api

__all__ = ["api"]
