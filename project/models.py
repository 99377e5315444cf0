from django.conf import settings
from django.db import models


class Presence(models.Model):
    """One open socket on a stream, kept alive by its consumer's heartbeat.

    Rows whose heartbeat stopped (their server process died without running
    `disconnect()`) are swept by the heartbeats of the sockets still there.
    """

    stream = models.CharField(max_length=100)
    channel_name = models.CharField(max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stream", "channel_name"], name="presence_socket"),
        ]
        indexes = [models.Index(fields=["stream", "last_seen"], name="presence_fresh")]

    def __str__(self) -> str:
        return f"{self.user or 'anonymous'} on {self.stream}"
