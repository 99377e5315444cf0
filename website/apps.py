from django.apps import AppConfig


class WebsiteConfig(AppConfig):
    """The site itself: the home page, sign-up, the health check and the demo data."""

    name = "website"
    verbose_name = "Site"

    def ready(self) -> None:
        from . import logins  # noqa: F401 - connects the login lockout's signal receivers
