from django.apps import AppConfig


class ProjectConfig(AppConfig):
    """The site itself: accounts, the home page, health and demo data."""

    name = "project"
    verbose_name = "Site"
