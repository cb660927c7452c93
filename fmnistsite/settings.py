"""Settings, read from the environment (and var/local.env, which ./run.sh writes; the
environment wins: see fmnistsite.env). Defaults suit a laptop: SQLite and files under var/,
Redis on localhost. Production (DEBUG off) refuses to start without SECRET_KEY."""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from kombu import Exchange, Queue

from fmnistsite.env import env_bool, env_int, env_list, env_secret, env_str, load_local_settings

load_local_settings()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
# No default in production: a guessable key would let anyone forge sessions. Empty is refused.
SECRET_KEY = env_secret("SECRET_KEY", "dev-only-insecure-key" if DEBUG else None)
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
    "axes",
    # The API (/api/v1/); listed for its docs page's own scripts and styles, served from here.
    "ninja",
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
    # Last, as django-axes asks: it turns a locked-out login into its 429 page.
    "axes.middleware.AxesMiddleware",
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
# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one user name,
# or from one address, further attempts are refused for LOGIN_COOLOFF_MINUTES without being
# checked (each check is an expensive hash). A right password resets that user's count.
# `manage.py axes_reset_username NAME` lifts a lock at once.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # either one: per user, and per address
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Behind the proxy every request comes from the proxy's address: take the client's from it.
AXES_CLIENT_IP_CALLABLE = "fmnistsite.proxy.client_ip"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "run_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
# Every stored file goes through STORAGES: "default" holds photos and thumbnails (MEDIA_ROOT),
# "checkpoints" the model files (CHECKPOINT_ROOT). Both are local folders unless a bucket is
# named: then both live in it (under media/ and checkpoints/), and web and workers share
# nothing but the database, the broker and the bucket. Views serve every file themselves
# (after checking who asks), so the bucket stays private. django-storages reads its own AWS_*
# settings below.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME", "")
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL", "") or None  # e.g. MinIO's http://minio:9000
AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME", "") or None
AWS_ACCESS_KEY_ID = env_str("AWS_ACCESS_KEY_ID", "") or None  # None: boto3 looks further (IAM roles)
AWS_SECRET_ACCESS_KEY = env_str("AWS_SECRET_ACCESS_KEY", "") or None
AWS_S3_FILE_OVERWRITE = False  # as on disk: a name already taken gets a new one, never overwritten
AWS_DEFAULT_ACL = None  # the bucket's own policy (private)
if AWS_STORAGE_BUCKET_NAME:
    _S3 = "storages.backends.s3.S3Storage"
    _FILES = {"default": {"BACKEND": _S3, "OPTIONS": {"location": "media"}},
              "checkpoints": {"BACKEND": _S3, "OPTIONS": {"location": "checkpoints"}}}
else:
    _FILES = {"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
              "checkpoints": {"BACKEND": "classifier.storage.CheckpointFileSystemStorage"}}
STORAGES = {
    **_FILES,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Uploaded photos, without a bucket. Never served as static files: views check who asks.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
# Checkpoints, without a bucket: apart from media so a deployment can put them on their own volume.
CHECKPOINT_ROOT = Path(env_str("CHECKPOINT_ROOT", str(VAR_DIR / "checkpoints")))
# A worker's own disk: checkpoints it trains are written here before they are stored, and those
# it reads from a bucket are kept here (by sha256, verified) so each is fetched once.
CHECKPOINT_CACHE_DIR = Path(env_str("CHECKPOINT_CACHE_DIR", str(VAR_DIR / "checkpoint-cache")))
CHECKPOINT_CACHE_MAX_MB = env_int("CHECKPOINT_CACHE_MAX_MB", 2048)

# Production runs behind an HTTPS proxy that sets X-Forwarded-Proto and X-Forwarded-For
# (docs/docker.md): cookies only over HTTPS, plain http redirected, and browsers told to keep
# to HTTPS (HSTS). BEHIND_HTTPS_PROXY=0 serves plain http (http://localhost, `docker compose
# up` as it comes); the proxy's headers are then not trusted either.
BEHIND_HTTPS_PROXY = env_bool("BEHIND_HTTPS_PROXY", not DEBUG)
if BEHIND_HTTPS_PROXY:
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    # Preloading puts the domain in browsers' built-in lists, which takes months to undo: the
    # operator's decision (SECURE_HSTS_PRELOAD=1), so `check --deploy` is not asked to nag.
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
    SILENCED_SYSTEM_CHECKS = ["security.W021"]

# --- Celery -----------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
# The database is the source of truth for jobs; Celery keeps no results for them. Only what a
# request waits for (the API's predict, a model export) keeps its answer, in Redis, briefly.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_RESULT_EXPIRES = 300
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
# Queues for the hardware: training (fine-tunes too) and evaluation go to `gpu`, photo
# prediction and the sweep to the default queue `celery`, so a GPU host takes only what needs
# it (`-Q gpu`) and a CPU worker keeps the gallery moving (`-Q celery`). A worker started
# without -Q consumes both (one box). Routed by task name: the models' task_name.
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Each queue on its own exchange and routing key: Queue("gpu") alone would bind to the default
# exchange under the key "celery", and a run sent to `gpu` would reach the default queue too.
CELERY_TASK_QUEUES = [Queue(name, Exchange(name), routing_key=name) for name in ("celery", "gpu")]
CELERY_TASK_ROUTES = {
    "worker.tasks.train_run": {"queue": "gpu"},
    "worker.tasks.evaluate_report": {"queue": "gpu"},
    "worker.tasks.find_label_issues": {"queue": "gpu"},  # it fine-tunes a model per fold
}

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
# Where the model looked, mapped for every photo the active model predicts (37x a prediction's cost).
PHOTO_OCCLUSION_MAPS = env_bool("PHOTO_OCCLUSION_MAPS", True)
JOB_WEB_SWEEP_S = env_int("JOB_WEB_SWEEP_S", JOB_SWEEP_INTERVAL_S)

# --- Photos -----------------------------------------------------------------------------
# Each upload is one photo; anything bigger is refused before it is decoded.
PHOTO_MAX_BYTES = env_int("PHOTO_MAX_BYTES", 15 * 1024 * 1024)
# Decoded size, checked from the header before decoding: a decompression bomb is refused.
PHOTO_MAX_PIXELS = env_int("PHOTO_MAX_PIXELS", 40_000_000)
# Gallery cards, rendered once per version of a photo and kept in each web process's memory
# ("cards"; see classifier.views.photos._cards): a page of 60 costs a few ms, not tens.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "cards": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "cards",
              "TIMEOUT": 3600, "OPTIONS": {"MAX_ENTRIES": env_int("GALLERY_CARD_CACHE_ENTRIES", 20_000)}},
}

# --- API (/api/v1/) ------------------------------------------------------------------------
# How long POST /api/v1/predict waits for a worker's answer before saying 503.
API_PREDICT_TIMEOUT_S = env_int("API_PREDICT_TIMEOUT_S", 30)
# How long the checkpoint page's export download waits for a worker to write the bundle.
EXPORT_TIMEOUT_S = env_int("EXPORT_TIMEOUT_S", 120)
# Requests per token per minute (0: no limit); counted in Django's cache, so per web process
# unless CACHES names a shared one.
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 600)

# --- Outgoing webhooks ----------------------------------------------------------------------
# Attempts per delivery, and the wait before the second (doubled for each one after).
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 5)
WEBHOOK_RETRY_BASE_S = env_int("WEBHOOK_RETRY_BASE_S", 10)
WEBHOOK_TIMEOUT_S = env_int("WEBHOOK_TIMEOUT_S", 10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # django-axes announces itself at every start of every command; its lockouts still show.
    "loggers": {"axes.apps": {"level": "WARNING"}},
}
