"""Typed readers for settings that come from the environment; they fail loudly.

A checkout also reads var/local.env (`NAME=value` lines, written by ./run.sh with a generated
SECRET_KEY), so that the README's commands work in a new terminal with nothing exported. Real
environment variables win over it. LOCAL_SETTINGS_FILE names another file; empty: read none."""

import os
import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_LOCAL_FILE = BASE_DIR / "var" / "local.env"


def local_settings_file() -> Path | None:
    value = os.environ.get("LOCAL_SETTINGS_FILE")
    if value is None:
        return DEFAULT_LOCAL_FILE
    return Path(value) if value else None


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(BASE_DIR))
    except ValueError:
        return str(path)


def load_local_settings() -> None:
    """Put the local file's settings into os.environ where the environment has none (it wins)."""
    path = local_settings_file()
    if path is None or not path.is_file():
        return
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not name.isidentifier():
            raise ImproperlyConfigured(f"{_shown(path)} line {number}: expected NAME=value, got {raw!r}.")
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(name, value)


def _how_to_set(name: str, value: str = "...") -> str:
    path = local_settings_file()
    where = f", or add {name}={value} to {_shown(path)} (./run.sh writes it)" if path else ""
    return f"export {name}={value}{where}"


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"{name} is not set: {_how_to_set(name)}.")
    return value


def env_secret(name: str, default: str | None = None) -> str:
    """A secret: like env_str, but an empty or blank value is refused (an empty key signs
    sessions anyone can forge, and Django would only notice at the first request)."""
    value = env_str(name, default)
    if not value.strip():
        raise ImproperlyConfigured(f"{name} is empty: {_how_to_set(name, '<a long random value>')}; "
                                   "python3 -c 'import secrets; print(secrets.token_urlsafe(50))' makes one.")
    return value


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}.")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def settings_or_exit(program: str) -> None:
    """Load Django's settings now, so that a missing or bad setting ends `manage.py` or
    `celery` with one line saying which and how to set it, instead of a long traceback."""
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - reading one setting loads them all
    except ImproperlyConfigured as exc:
        sys.exit(f"{program}: {exc}")
