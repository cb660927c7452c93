"""Project-wide promises: checks pass, migrations are complete, the web never imports torch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

REPO = Path(__file__).resolve().parent.parent


def test_system_checks_pass():
    call_command("check", fail_level="WARNING")


def test_migrations_are_up_to_date(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def _python(code: str, **env) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE")}
    full_env.update(env)
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=full_env, capture_output=True, text=True,
                          timeout=120)


def test_the_web_process_never_imports_torch():
    code = """
import sys, django
django.setup()
from django.test import Client
from django.urls import get_resolver
import fmnistsite.wsgi, classifier.admin, classifier.forms
from classifier.services import evaluation, training
from classifier.selectors import reports as report_selectors
from classifier.views import reports, runs, samples
from classifier.management.commands import sweep_jobs, train
import classifier.admin.reports, engine.config, engine.metrics, engine.results
from classifier.services import jobs, training, photos, promotions
from classifier.selectors import photos as photo_selectors
from classifier.views import jobs as job_views, runs, photos as photo_views
from classifier.management.commands import import_photos, export_photos
import dataset.photo_sets
from dataset.photos import preprocess
from PIL import Image
preprocess(Image.new('RGB', (64, 48), 'white'))  # uploads are preprocessed in the web process
get_resolver().url_patterns
Client().get('/accounts/login/')
print('torch' in sys.modules)
"""
    result = _python(code, DJANGO_SETTINGS_MODULE="fmnistsite.test_settings")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = _python("import django; django.setup()", DJANGO_SETTINGS_MODULE="fmnistsite.settings", DEBUG="0")
    assert result.returncode != 0
    assert ImproperlyConfigured.__name__ in result.stderr and "SECRET_KEY" in result.stderr


def test_settings_come_from_the_environment(tmp_path):
    code = "from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], s.MEDIA_ROOT, s.CELERY_BROKER_URL)"
    result = _python(code, DJANGO_SETTINGS_MODULE="fmnistsite.settings", SECRET_KEY="x",
                     DATABASE_URL="postgres://u@db:5432/app", MEDIA_ROOT=str(tmp_path), CELERY_BROKER_URL="redis://r:6379/3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["django.db.backends.postgresql", str(tmp_path), "redis://r:6379/3"]


@pytest.mark.parametrize("command", [["manage.py", "check"], ["manage.py", "train", "--help"],
                                     ["manage.py", "evaluate", "--help"]])
def test_manage_py_runs(command):
    env = {"DJANGO_SETTINGS_MODULE": "fmnistsite.test_settings"}
    result = subprocess.run([sys.executable, *command], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, **env})
    assert result.returncode == 0, result.stderr
