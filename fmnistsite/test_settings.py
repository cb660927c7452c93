"""Settings for the test suite: the same as production but fast hashing and a file SQLite
test database, so that a worker subprocess and a live server can share it."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

from fmnistsite.settings import *  # noqa: E402,F401,F403
from fmnistsite.settings import DATABASES, VAR_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tests and the workers they start use a Redis database of their own.
CELERY_BROKER_URL = os.environ.get("TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
# Serve static files from the apps' folders, as in development (no collectstatic in tests).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# Pages sweep jobs only in the tests that ask for it, so a page view never changes what a test set up.
JOB_WEB_SWEEP_S = 0
