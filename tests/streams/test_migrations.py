"""Presence moved from the site app into the engine, and an existing database keeps its rows."""

import importlib

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from streams.models import Presence

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

adoption = importlib.import_module("streams.migrations.0001_initial")

# The table as the site app created it, socket ids in `channel_name`.
OLD_TABLE = {
    "sqlite": """CREATE TABLE project_presence (
        id integer NOT NULL PRIMARY KEY AUTOINCREMENT,
        stream varchar(100) NOT NULL, channel_name varchar(200) NOT NULL,
        last_seen datetime NOT NULL,
        user_id integer NULL REFERENCES auth_user (id) DEFERRABLE INITIALLY DEFERRED)""",
    "postgresql": """CREATE TABLE project_presence (
        id bigserial PRIMARY KEY,
        stream varchar(100) NOT NULL, channel_name varchar(200) NOT NULL,
        last_seen timestamp with time zone NOT NULL,
        user_id integer NULL REFERENCES auth_user (id) DEFERRABLE INITIALLY DEFERRED)""",
}


def test_the_engine_adopts_the_site_apps_presence_rows(user):
    state = MigrationLoader(connection).project_state(("streams", "0001_initial"))
    apps = state.apps
    with connection.schema_editor() as editor:
        editor.delete_model(apps.get_model("streams", "Presence"))
        editor.execute(OLD_TABLE[connection.vendor])
        editor.execute(
            "CREATE UNIQUE INDEX presence_socket ON project_presence (stream, channel_name)"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO project_presence (stream, channel_name, last_seen, user_id)"
            " VALUES (%s, %s, %s, %s)",
            ["chat.room.1", "socket-1", timezone.now(), user.pk],
        )
    with connection.schema_editor() as editor:
        adoption.adopt_or_create(apps, editor)
        # And on from there to the table as it is now (the rest of the suite uses it).
        address = importlib.import_module("streams.migrations.0002_presence_address")
        address.Migration("0002_presence_address", "streams").apply(state, editor)

    assert "project_presence" not in connection.introspection.table_names()
    row = Presence.objects.get()
    assert (row.stream, row.socket_id, row.user) == ("chat.room.1", "socket-1", user)


def test_a_new_database_gets_the_table():
    assert Presence._meta.db_table in connection.introspection.table_names()
