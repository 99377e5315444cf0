"""Profiles: a display name cleaned as every write keeps it, made on first use; cards read in
one query, and never a name older than the last change."""

import pytest
from django.core.exceptions import ValidationError

from people.models import Profile
from people.selectors import person_card, person_cards, person_get
from people.services import display_name_clean, profile_update

pytestmark = pytest.mark.django_db


def test_a_user_without_a_profile_is_shown_by_username(make_user):
    ann = make_user(username="ann")

    card = person_card(user=ann)

    assert (card.username, card.name, card.initials) == ("ann", "ann", "A")
    assert not Profile.objects.exists()


def test_setting_a_display_name_makes_the_profile_and_the_card_shows_it(make_user):
    ann = make_user(username="ann")

    profile_update(user=ann, display_name="  Ann   Smith ")

    assert Profile.objects.get(user=ann).display_name == "Ann Smith"
    card = person_card(user=ann)
    assert (card.name, card.initials, card.colour) == ("Ann Smith", "AS", ann.pk % 12)


def test_an_empty_display_name_shows_the_username_again(make_user):
    ann = make_user(username="ann")
    profile_update(user=ann, display_name="Ann Smith")

    profile_update(user=ann, display_name="   ")

    assert person_card(user=ann).name == "ann"


def test_a_user_loaded_earlier_shows_a_name_changed_since(make_user, django_user_model):
    ann = make_user(username="ann")
    held = django_user_model.objects.get(pk=ann.pk)  # a socket's user, say
    assert person_card(user=held).name == "ann"

    profile_update(user=ann, display_name="Ann Smith")

    assert person_card(user=held).name == "Ann Smith"


def test_a_profile_loaded_with_the_user_costs_no_query(
    make_user, django_user_model, django_assert_num_queries
):
    profile_update(user=make_user(username="ann"), display_name="Ann Smith")
    ann = django_user_model.objects.select_related("profile").get(username="ann")

    with django_assert_num_queries(0):
        assert person_card(user=ann).name == "Ann Smith"


def test_cards_of_many_users_take_one_query_in_name_order(make_user, django_assert_num_queries):
    zed, ann, bob = make_user(username="zed"), make_user(username="ann"), make_user(username="bob")
    profile_update(user=zed, display_name="Aaron Zed")

    with django_assert_num_queries(1):
        cards = person_cards(user_ids=[ann.pk, bob.pk, zed.pk])

    assert [card.name for card in cards] == ["Aaron Zed", "ann", "bob"]


@pytest.mark.parametrize(
    "bad",
    [
        "x" * 51,
        "Ann\u202eSmith",  # a direction override
        "Ann\u200bSmith",  # a zero-width space
        "!!!",
    ],
)
def test_a_display_name_that_is_too_long_hides_characters_or_has_no_letter_is_refused(bad):
    with pytest.raises(ValidationError):
        display_name_clean(bad)


def test_a_display_name_is_nfkc_normalised():
    assert display_name_clean("Ａｎｎ") == "Ann"


def test_person_get_finds_active_users_only(make_user):
    make_user(username="ann")
    make_user(username="gone", is_active=False)

    assert person_get(username="ann").username == "ann"
    assert person_get(username="gone") is None
    assert person_get(username="nobody") is None
