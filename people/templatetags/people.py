"""`{% avatar user %}` and `{{ user|display_name }}`: a person as templates show them, drawn
the same way as static/js/people.js draws them from a frame."""

from django import template
from django.contrib.auth.models import AbstractBaseUser
from django.utils.html import format_html
from django.utils.safestring import SafeString

from ..cards import Card
from ..selectors import person_card

register = template.Library()


def _card(person: AbstractBaseUser | Card) -> Card:
    return person if isinstance(person, Card) else person_card(user=person)


@register.simple_tag
def avatar(person: AbstractBaseUser | Card | None, size: str = "") -> SafeString:
    """The initials on the person's colour; decoration only, their name is beside it.

    The stylesheet draws the initials from `data-initials`, so that they are no
    part of the text around them.
    """
    if person is None:
        return format_html("")
    card = _card(person)
    size_class = f" avatar-{size}" if size else ""
    return format_html(
        '<span class="avatar avatar-c{}{}" aria-hidden="true" data-initials="{}"></span>',
        card.colour,
        size_class,
        card.initials,
    )


@register.filter
def display_name(person: AbstractBaseUser | Card | None) -> str:
    return _card(person).name if person is not None else ""
