# Shared by run.sh and test.sh: install what is missing, start what is down. Idempotent:
# a second run finds everything in place and takes seconds.
# shellcheck shell=bash

PYTHON=${PYTHON:-python3}
VENV=.venv

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else return 1
  fi
}

apt_install() {
  # Install Debian packages that are missing; no-op when all are there.
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "Installing Debian packages: ${missing[*]}"
  command -v apt-get >/dev/null 2>&1 || { echo "apt-get not found: install ${missing[*]} yourself" >&2; return 1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
    { echo "Could not install ${missing[*]} (need root or sudo)" >&2; return 1; }
}

ensure_venv() {
  # $1: the requirements file (requirements.txt for the app, requirements-dev.txt for tests)
  local requirements=${1:-requirements.txt}
  if [ ! -x "$VENV/bin/python" ]; then
    say "Creating the virtual environment in $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp="$VENV/.requirements.sha256"
  local want; want=$(cat "$requirements" requirements.txt | sha256sum | cut -d' ' -f1)-$requirements
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "Installing Python requirements (torch comes from local disk where available; a few minutes)"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -r "$requirements" || { echo "pip install failed" >&2; return 1; }
    echo "$want" > "$stamp"
  fi
}

ensure_local_env() {
  # var/local.env: settings every command in this checkout reads (fmnistsite/env.py), so that
  # manage.py and celery work in a new terminal with nothing exported. Written once, so the
  # key (and the sessions it signs) stays; variables in the environment still win over it.
  local file=var/local.env
  [ -f "$file" ] && return 0
  mkdir -p var
  say "Writing $file: a generated SECRET_KEY, and DEBUG=1 for development"
  local key; key=$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(50))')
  (umask 077
   printf '%s\n' "# Read by manage.py, celery and the web server of this checkout; the environment wins." \
     "SECRET_KEY=$key" "DEBUG=1" > "$file.tmp") && mv "$file.tmp" "$file"
}

ensure_fashion_mnist() {
  if "$VENV/bin/python" -m dataset.fashion_mnist >/dev/null 2>&1; then return 0; fi
  say "Fashion-MNIST not found; trying Debian's dataset-fashion-mnist package"
  if apt_install dataset-fashion-mnist && "$VENV/bin/python" -m dataset.fashion_mnist >/dev/null 2>&1; then return 0; fi
  say "Trying a download with torchvision into var/data"
  "$VENV/bin/python" -m dataset.fashion_mnist --download
}

redis_up() {
  "$VENV/bin/python" - "${CELERY_BROKER_URL:-redis://127.0.0.1:6379/0}" <<'PY' >/dev/null 2>&1
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()
PY
}

ensure_redis() {
  redis_up && return 0
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install redis-server || { echo "Redis is not running and could not be installed; start one and set CELERY_BROKER_URL" >&2; return 1; }
  fi
  say "Starting redis-server on 127.0.0.1:6379"
  mkdir -p var/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir "$PWD/var/redis" --logfile "$PWD/var/redis/redis.log"
  for _ in $(seq 1 50); do redis_up && return 0; sleep 0.1; done
  echo "redis-server did not come up; see var/redis/redis.log" >&2
  return 1
}
