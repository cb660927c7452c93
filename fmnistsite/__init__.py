# The Celery app loads with Django, so that the web side sends jobs through the configured app.
from fmnistsite.celery import app as celery_app

__all__ = ["celery_app"]
