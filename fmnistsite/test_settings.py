"""Settings for the test suite: the same as production but fast hashing and a file SQLite
test database, so that a worker subprocess and a live server can share it."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")
# The suite runs the same whatever a developer's var/local.env says (./run.sh writes DEBUG=1
# there); tests of that file give it to subprocesses themselves. Plain http, as the test client speaks.
os.environ.setdefault("LOCAL_SETTINGS_FILE", "")
os.environ.setdefault("BEHIND_HTTPS_PROXY", "0")

from fmnistsite.settings import *  # noqa: E402,F401,F403
from fmnistsite.settings import DATABASES, STORAGES, VAR_DIR  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The files as settings chose them (local folders, or a bucket when AWS_STORAGE_BUCKET_NAME is
# set); static files from the apps' folders.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
# Tests and the workers they start use a Redis database of their own.
CELERY_BROKER_URL = os.environ.get("TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
CELERY_RESULT_BACKEND = CELERY_BROKER_URL
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
# Serve static files from the apps' folders, as in development (no collectstatic in tests).
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
# Pages sweep jobs only in the tests that ask for it, so a page view never changes what a test set up.
JOB_WEB_SWEEP_S = 0
