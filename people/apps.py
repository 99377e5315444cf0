from django.apps import AppConfig


class PeopleConfig(AppConfig):
    """Who people are on the site: their display names and the avatars drawn from them."""

    name = "people"
    verbose_name = "People"
