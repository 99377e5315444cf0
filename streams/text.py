"""What every stream's writes do with the text people give them: trim and bound it, slug it."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils.text import slugify

SLUG_LENGTH = 80


def text_clean(text: str, *, limit: int, field: str | None = None, noun: str) -> str:
    """`text` trimmed; a ValidationError when it is blank or longer than `limit`.

    An over-long text is refused with code `too_long`, which the socket's error
    frame carries; `field` names the form field the error belongs to, if any.
    """
    text = text.strip()
    if not text:
        raise _error(field, f"{noun} cannot be empty.")
    if len(text) > limit:
        raise _error(field, f"{noun} is at most {limit} characters.", code="too_long")
    return text


def _error(field: str | None, message: str, code: str | None = None) -> ValidationError:
    error = ValidationError(message, code=code)
    return error if field is None else ValidationError({field: error})


def slug_create(
    model: type[models.Model],
    *,
    source: str,
    field: str,
    taken: str = "This address is taken.",
    reserved: frozenset[str] = frozenset(),
    allow_unicode: bool = False,
    **values: Any,
) -> Any:
    """Create a `model` row whose unique `slug` is made from `source`.

    With `allow_unicode`, the slug keeps the letters of every script (a
    Cyrillic or Chinese name keeps its own letters in the address); without,
    only ASCII ones. A slug with no letter or digit is a ValidationError on
    `field`; so is a reserved one or one already taken (with the message
    `taken`), including when a concurrent create takes it first.
    """
    slug = slugify(source, allow_unicode=allow_unicode)[:SLUG_LENGTH].strip("-")
    if not slug:
        raise ValidationError({field: "Use at least one letter or digit."})
    if slug in reserved or model._default_manager.filter(slug=slug).exists():
        raise ValidationError({field: taken})
    try:
        with transaction.atomic():
            return model._default_manager.create(slug=slug, **values)
    except IntegrityError:
        raise ValidationError({field: taken}) from None


class SlugConverter:
    """The `uslug` path converter: a slug in letters of any script (Django's `slug` is ASCII)."""

    regex = r"[-\w]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value
