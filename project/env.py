"""The one place where settings read the environment.

Every variable the project understands is read through these helpers, so
`docs/configuration.md` can list them all by searching for `env(`.
"""

import os

from django.core.exceptions import ImproperlyConfigured

REQUIRED = object()


class MissingSettings(ImproperlyConfigured):
    """Raised when production settings lack variables they will not invent."""


def env(name: str, default=REQUIRED) -> str:
    """Return the variable's value, or `default` when it is unset or empty."""
    value = os.environ.get(name, "")
    if value == "":
        if default is REQUIRED:
            raise MissingSettings(f"{name} must be set.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = env(name, "")
    if value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}.")


def env_int(name: str, default: int) -> int:
    value = env(name, "")
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = env(name, "")
    if value == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def require(*names: str) -> None:
    """Fail with one message that names every missing variable."""
    missing = [name for name in names if os.environ.get(name, "") == ""]
    if missing:
        raise MissingSettings(
            "Production settings need these environment variables, which are not set: "
            + ", ".join(missing)
            + ". See docs/configuration.md."
        )
