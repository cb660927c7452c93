"""Settings, read from the environment. Defaults suit a laptop: SQLite and files under var/,
Redis on localhost. Production (DEBUG off) refuses to start without SECRET_KEY."""

from pathlib import Path

import dj_database_url

from fmnistsite.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# No default in production: a guessable key would let anyone forge sessions.
SECRET_KEY = env_str("SECRET_KEY", "dev-only-insecure-key" if DEBUG else None)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "classifier",
    # The worker is a Django app only for its commands that run jobs in the shell's own
    # process (`manage.py evaluate`); the web never imports it otherwise.
    "worker",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "classifier.middleware.job_sweep_middleware",
]

ROOT_URLCONF = "fmnistsite.urls"
WSGI_APPLICATION = "fmnistsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker write at the same time: WAL lets readers go on while one
    # writes, and IMMEDIATE transactions wait for the lock instead of failing mid-transaction.
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "run_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Uploaded photos. Never served as static files: views check who asks.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
# Checkpoints live apart from media so a deployment can put them on their own volume.
CHECKPOINT_ROOT = Path(env_str("CHECKPOINT_ROOT", str(VAR_DIR / "checkpoints")))

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Celery -----------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
# The database is the source of truth for jobs; Celery keeps no results.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A job is acknowledged when it ends, not when it starts, and a worker holds one job at a
# time, so a crash never swallows queued runs.
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
RUN_TIME_LIMIT_S = env_int("RUN_TIME_LIMIT_S", 6 * 3600)
CELERY_TASK_SOFT_TIME_LIMIT = RUN_TIME_LIMIT_S
CELERY_TASK_TIME_LIMIT = RUN_TIME_LIMIT_S + 300
# Redis redelivers an unacknowledged job after this long; it must outlast the longest run or
# a second worker would start the same job (the claim would refuse it, but wastefully).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": RUN_TIME_LIMIT_S + 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A page that queues a job answers within seconds when Redis is down (the job is kept and
# sent later by the sweep) instead of hanging on connection attempts.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
JOB_SEND_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Pool processes fork with torch already imported (worker.tasks), but a busy machine can
# still take seconds to start one: Celery's default 4 s deadline killed them in a loop.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 60

# --- Jobs (runs, reports, prediction jobs) ----------------------------------------------
# A running job writes a heartbeat (and checks for a cancel request) this often...
JOB_HEARTBEAT_S = env_int("JOB_HEARTBEAT_S", 1)
# ...and one silent for this long is failed, or started again, by the sweep (its worker died).
JOB_STALE_AFTER_S = env_int("JOB_STALE_AFTER_S", 180)
# A queued job no worker has claimed this long after its message was sent is sent again (the
# broker may have lost it); each further send waits twice as long.
JOB_RESEND_AFTER_S = env_int("JOB_RESEND_AFTER_S", 600)
# How often each worker sweeps, and each web process at most (0: the web never sweeps).
JOB_SWEEP_INTERVAL_S = env_int("JOB_SWEEP_INTERVAL_S", 60)
JOB_WEB_SWEEP_S = env_int("JOB_WEB_SWEEP_S", JOB_SWEEP_INTERVAL_S)

# --- Photos -----------------------------------------------------------------------------
# Each upload is one photo; anything bigger is refused before it is decoded.
PHOTO_MAX_BYTES = env_int("PHOTO_MAX_BYTES", 15 * 1024 * 1024)
# Decoded size, checked from the header before decoding: a decompression bomb is refused.
PHOTO_MAX_PIXELS = env_int("PHOTO_MAX_PIXELS", 40_000_000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
