"""Presence, now the engine's: adopted from the table the site app used to own.

Until the engine became an app of its own, `Presence` lived in the `project`
app as `project_presence`, with the socket id in a column named `channel_name`.
A database that has that table keeps its rows: the table is renamed and the
column with it. A new database simply gets the table.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

OLD_TABLE = "project_presence"


def adopt_or_create(apps, schema_editor) -> None:
    Presence = apps.get_model("streams", "Presence")
    if OLD_TABLE not in schema_editor.connection.introspection.table_names():
        schema_editor.create_model(Presence)
        return
    schema_editor.alter_db_table(Presence, OLD_TABLE, Presence._meta.db_table)
    socket_id = Presence._meta.get_field("socket_id")
    channel_name = socket_id.clone()
    channel_name.set_attributes_from_name("channel_name")
    channel_name.model = Presence
    schema_editor.alter_field(Presence, channel_name, socket_id)


def drop(apps, schema_editor) -> None:
    schema_editor.delete_model(apps.get_model("streams", "Presence"))


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Presence",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("stream", models.CharField(max_length=100)),
                        ("socket_id", models.CharField(max_length=200)),
                        ("last_seen", models.DateTimeField()),
                        (
                            "user",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "indexes": [
                            models.Index(fields=["stream", "last_seen"], name="presence_fresh")
                        ],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("stream", "socket_id"), name="presence_socket"
                            )
                        ],
                    },
                ),
            ],
        ),
        migrations.RunPython(adopt_or_create, drop),
    ]
