"""The liveblog-editors group: its members (and superusers) write liveblogs."""

from django.db import migrations

EDITORS_GROUP = "liveblog-editors"


def create_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name=EDITORS_GROUP)


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=EDITORS_GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("liveblog", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_group, delete_group)]
