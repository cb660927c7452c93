"""Data loading and photo preprocessing: plain numpy and Pillow, no Django, no Celery."""
