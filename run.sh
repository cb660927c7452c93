#!/usr/bin/env bash
# Set up everything that is missing, then run the app: the web server and one Celery worker.
#   ./run.sh                 http://127.0.0.1:8000 (HOST and PORT change it)
# SQLite and files under var/ by default; DATABASE_URL, MEDIA_ROOT, CELERY_BROKER_URL, ...
# override (see README). The first run writes var/local.env (a generated SECRET_KEY, DEBUG=1),
# which manage.py and celery read in any terminal.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh

HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}

ensure_local_env
ensure_venv
ensure_fashion_mnist
ensure_redis
mkdir -p var/log

say "Migrating the database"
"$VENV/bin/python" manage.py migrate --noinput -v0
# Photos stored by an older dataset/photos.py are remade as new uploads would be (none, usually).
"$VENV/bin/python" manage.py preprocess_photos -v0

# The first time only: a staff user (ADMIN_USER, ADMIN_PASSWORD, ADMIN_EMAIL), its password printed once.
"$VENV/bin/python" manage.py ensure_staff_user --credentials-file var/admin-credentials.txt

say "Starting the Celery worker (log: var/log/worker.log)"
"$VENV/bin/celery" -A worker worker --concurrency 1 --loglevel info >> var/log/worker.log 2>&1 &
worker_pid=$!
stop_worker() {
  # TERM asks for a warm shutdown (finish the current batch of work); a run in progress is
  # not worth waiting minutes for, so after 10 s the worker is stopped cold. The next
  # worker's sweep marks such a run failed.
  kill -TERM "$worker_pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$worker_pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -QUIT "$worker_pid" 2>/dev/null
  wait "$worker_pid" 2>/dev/null
}
trap stop_worker EXIT INT TERM

say "Open http://$HOST:$PORT/  (sign in; staff start runs from 'New run' or the admin). Ctrl-C stops both."
"$VENV/bin/python" manage.py runserver "$HOST:$PORT"
