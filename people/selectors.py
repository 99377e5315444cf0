"""Every read of people: a person's card, and a person found by username."""

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from .cards import Card, card_of
from .models import Profile


def display_name_of(user: AbstractBaseUser) -> str:
    """The name the user chose, or "" (a user without a profile yet, or with a blank name).

    A profile loaded with the user (`select_related("profile")`, or
    `"author__profile"` for messages and posts) is used as it is; otherwise it
    is read afresh and not kept on the user: a socket's user lives as long as
    the socket, and must not write a name changed since it opened.
    """
    if Profile.user.field.remote_field.is_cached(user):
        profile = getattr(user, "profile", None)
        return profile.display_name if profile is not None else ""
    found = Profile.objects.filter(user_id=user.pk).values_list("display_name", flat=True)
    return found.first() or ""


def person_card(*, user: AbstractBaseUser) -> Card:
    return card_of(
        user_id=user.pk, username=user.get_username(), display_name=display_name_of(user)
    )


def person_cards(*, user_ids: Iterable[int]) -> list[Card]:
    """The cards of these users, in one query, by display name (or username) then username."""
    cards = person_cards_by_id(user_ids=user_ids).values()
    return sorted(cards, key=lambda card: (card.name.casefold(), card.username))


def person_cards_by_id(*, user_ids: Iterable[int]) -> dict[int, Card]:
    """The cards of these users by user id, in one query."""
    rows = (
        get_user_model()
        ._default_manager.filter(pk__in=list(user_ids))
        .values_list("pk", "username", "profile__display_name")
    )
    return {
        pk: card_of(user_id=pk, username=username, display_name=display_name or "")
        for pk, username, display_name in rows
    }


def person_get(*, username: str) -> AbstractBaseUser | None:
    """The active user of that username, or None."""
    return (
        get_user_model()
        ._default_manager.filter(username=username, is_active=True)
        .select_related("profile")
        .first()
    )
