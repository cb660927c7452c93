#!/bin/sh
# Every container of the image starts here, then runs its command. A SECRET_KEY given in the
# environment is used as it is. With none (or an empty one), the key generated on the first
# start and kept in the `secret` volume is used, so `docker compose up` works without a .env
# and sessions survive restarts. A worker on another host has no such volume: give it the
# web host's SECRET_KEY (docs/docker.md).
set -eu
if [ -z "${SECRET_KEY:-}" ]; then
  key_file=${SECRET_KEY_FILE:-/var/app/secret/secret_key}
  if [ ! -e "$key_file" ]; then
    mkdir -p "$(dirname "$key_file")"
    new=$(mktemp "$key_file.XXXXXX")  # readable by its owner only
    python3 -c 'import secrets; print(secrets.token_urlsafe(50))' > "$new"
    # A hard link never replaces a file: if another container made the key first, theirs stays.
    ln "$new" "$key_file" 2>/dev/null && echo "Generated a SECRET_KEY, kept in $key_file" >&2 || true
    rm -f "$new"
  fi
  SECRET_KEY=$(cat "$key_file")
  export SECRET_KEY
fi
exec "$@"
