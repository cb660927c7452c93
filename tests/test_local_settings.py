"""Commands in a new terminal: ./run.sh writes var/local.env once (a generated SECRET_KEY,
DEBUG=1) and manage.py and celery read it with nothing exported; a setting really missing is
one line saying which and how to set it. Each test runs in a copy of the checkout, in a
subprocess whose environment holds only PATH and HOME."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable  # the checkout's .venv
CELERY = str(Path(sys.executable).parent / "celery")


@pytest.fixture
def checkout(tmp_path) -> Path:
    """The checkout as a new clone has it (tracked and new files; no var/, no .venv)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout.split("\0")
    copy = tmp_path / "fmnist"
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, copy / name)
    return copy


def _run(command: list[str], cwd: Path, **env) -> subprocess.CompletedProcess:
    """In a new terminal: nothing exported but PATH and HOME (and what the test passes)."""
    return subprocess.run(command, cwd=cwd, env={"PATH": "/usr/bin:/bin", "HOME": str(cwd.parent), **env},
                          capture_output=True, text=True, timeout=300)


def _write_local_env(checkout: Path) -> subprocess.CompletedProcess:
    # run.sh's own step, from the functions it sources (the rest of run.sh installs and serves).
    return _run(["bash", "-c", "source scripts/setup.sh && ensure_local_env"], checkout)


def _settings(checkout: Path, expression: str, **env) -> subprocess.CompletedProcess:
    return _run([PYTHON, "manage.py", "shell", "--no-imports", "-c", f"from django.conf import settings; print({expression})"],
                checkout, **env)


def test_run_sh_writes_a_local_file_that_manage_py_reads_in_a_new_terminal(checkout):
    assert _write_local_env(checkout).returncode == 0
    local = checkout / "var" / "local.env"
    assert local.stat().st_mode & 0o077 == 0  # the key is its owner's alone
    text = local.read_text()
    assert "DEBUG=1" in text.splitlines()
    result = _settings(checkout, "settings.DEBUG, settings.SECRET_KEY")
    assert result.returncode == 0, result.stderr
    debug, key = result.stdout.split()
    assert debug == "True" and len(key) >= 50 and f"SECRET_KEY={key}" in text
    # Written once: a second run keeps the key, so sessions survive.
    assert _write_local_env(checkout).returncode == 0 and local.read_text() == text


def test_the_readme_s_shell_commands_work_in_a_new_terminal(checkout):
    """Measured before: `manage.py evaluate --latest` printed 40 lines of traceback ending "Set the
    environment variable SECRET_KEY". With the local file it runs and says what it found."""
    _write_local_env(checkout)
    assert _run([PYTHON, "manage.py", "migrate", "-v0"], checkout).returncode == 0
    result = _run([PYTHON, "manage.py", "evaluate", "--latest"], checkout)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "run" in result.stderr.lower() and len(result.stderr.strip().splitlines()) == 1, result.stderr
    report = _run([CELERY, "-A", "worker", "report"], checkout)
    assert report.returncode == 0 and "DEBUG: True" in report.stdout, report.stderr


def test_the_environment_wins_over_the_local_file(checkout):
    _write_local_env(checkout)
    result = _settings(checkout, "settings.SECRET_KEY, settings.DEBUG", SECRET_KEY="from-the-environment", DEBUG="0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["from-the-environment", "False"]


@pytest.mark.parametrize("command", [[PYTHON, "manage.py", "check"], [PYTHON, "manage.py", "evaluate", "--latest"],
                                     [CELERY, "-A", "worker", "worker"]], ids=["check", "evaluate", "celery"])
def test_a_missing_secret_key_is_one_line_saying_how_to_set_it(checkout, command):
    result = _run(command, checkout)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "SECRET_KEY is not set: export SECRET_KEY=..., or add SECRET_KEY=... to var/local.env" in result.stderr


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_secret_key_is_refused_at_start_up(checkout, value):
    for env in ({"SECRET_KEY": value}, {"SECRET_KEY": value, "DEBUG": "1"}):
        result = _run([PYTHON, "manage.py", "check"], checkout, **env)
        assert result.returncode != 0 and "SECRET_KEY is empty" in result.stderr and "Traceback" not in result.stderr


def test_a_malformed_local_file_names_its_line(checkout):
    (checkout / "var").mkdir()
    (checkout / "var" / "local.env").write_text("# settings\nSECRET_KEY=abc\nnot a setting\n")
    result = _run([PYTHON, "manage.py", "check"], checkout)
    assert result.returncode != 0 and "var/local.env line 3: expected NAME=value" in result.stderr


PRODUCTION = {"DEBUG": "0", "SECRET_KEY": "k" * 20 + "-production-like-key-0123456789abcdef", "ALLOWED_HOSTS": "fmnist.example.org"}


def test_check_deploy_is_clean_in_production_behind_the_proxy(checkout):
    result = _run([PYTHON, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], checkout, **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_redirects_plain_http_and_sends_hsts_over_https(checkout):
    code = ("from django.test.utils import setup_test_environment; setup_test_environment(); "
            "from django.test import Client; c = Client(SERVER_NAME='fmnist.example.org'); "
            "r = c.get('/accounts/login/'); print(r.status_code, r['Location']); "
            "r = c.get('/accounts/login/', HTTP_X_FORWARDED_PROTO='https'); "
            "print(r.status_code, r['Strict-Transport-Security'], r.cookies['csrftoken']['secure'])")
    for step in (["migrate", "-v0"], ["collectstatic", "--noinput", "-v0"]):  # as the image's build does
        assert _run([PYTHON, "manage.py", *step], checkout, **PRODUCTION).returncode == 0
    result = _run([PYTHON, "manage.py", "shell", "--no-imports", "-c", code], checkout, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    redirect, served = result.stdout.strip().splitlines()
    assert redirect == "301 https://fmnist.example.org/accounts/login/"
    assert served == "200 max-age=31536000; includeSubDomains True"
