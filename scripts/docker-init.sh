#!/bin/sh
# The compose `migrate` step, once per `up`, before web and workers start: the schema, the
# bucket (a new MinIO is empty), photos remade after dataset/photos.py changed (none when
# nothing did), and on the first start only a staff user, its password printed here once
# (`docker compose logs migrate`).
set -eu
python manage.py migrate --noinput
python manage.py ensure_bucket
python manage.py preprocess_photos
python manage.py ensure_staff_user
