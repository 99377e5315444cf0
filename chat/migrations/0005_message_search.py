"""Full-text search of message bodies, one index per database engine.

PostgreSQL: a GIN index on the expression `to_tsvector('simple', translate(body,
'<>', '  '))`, which the search selector repeats word for word so the planner
uses it. Angle brackets become spaces: PostgreSQL's parser takes `<word>` for an
HTML tag and leaves its word out, where FTS5 (and the reader) sees a word. An expression
index rather than a stored tsvector column: the body stays the only copy of the
text, nothing can fall out of step with it, and the model is the same on every
engine. 'simple' rather than a language's stemmer: rooms speak any language
and people search for names and words as typed, and it finds what SQLite's
unicode61 tokenizer (diacritics kept) finds.

SQLite: an FTS5 table over chat_message's own rows (external content, so the
body is not stored twice), kept in step by triggers on insert, update and
delete. Deleting a message empties its body, so an edit or a delete leaves
nothing findable of the old text.

The index is not in the model's Meta: neither kind can be declared there for
both engines, and neither changes the model's state.
"""

from django.db import migrations, transaction

POSTGRES_CREATE = [
    # Concurrently: building it on a large table must not stop people writing.
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS chat_message_search "
    "ON chat_message USING gin (to_tsvector('simple'::regconfig, translate(body, '<>', '  ')))",
]
POSTGRES_DROP = ["DROP INDEX CONCURRENTLY IF EXISTS chat_message_search"]

SQLITE_CREATE = [
    "CREATE VIRTUAL TABLE chat_message_search USING fts5("
    "body, content='chat_message', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 0')",
    # External content: FTS5 must be told the old text to forget it.
    "CREATE TRIGGER chat_message_search_insert AFTER INSERT ON chat_message BEGIN "
    "INSERT INTO chat_message_search(rowid, body) VALUES (new.id, new.body); END",
    "CREATE TRIGGER chat_message_search_delete AFTER DELETE ON chat_message BEGIN "
    "INSERT INTO chat_message_search(chat_message_search, rowid, body) "
    "VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER chat_message_search_update AFTER UPDATE OF body ON chat_message BEGIN "
    "INSERT INTO chat_message_search(chat_message_search, rowid, body) "
    "VALUES ('delete', old.id, old.body); "
    "INSERT INTO chat_message_search(rowid, body) VALUES (new.id, new.body); END",
    # The messages written before the index.
    "INSERT INTO chat_message_search(chat_message_search) VALUES ('rebuild')",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS chat_message_search_update",
    "DROP TRIGGER IF EXISTS chat_message_search_delete",
    "DROP TRIGGER IF EXISTS chat_message_search_insert",
    "DROP TABLE IF EXISTS chat_message_search",
]


def _run(schema_editor, statements: dict[str, list[str]]) -> None:
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        for sql in statements["postgresql"]:
            schema_editor.execute(sql, params=None)
    elif connection.vendor == "sqlite":
        # The table and its triggers together or not at all (the migration is not atomic).
        with transaction.atomic(using=connection.alias):
            for sql in statements["sqlite"]:
                schema_editor.execute(sql, params=None)


def search_create(apps, schema_editor) -> None:
    _run(schema_editor, {"postgresql": POSTGRES_CREATE, "sqlite": SQLITE_CREATE})


def search_drop(apps, schema_editor) -> None:
    _run(schema_editor, {"postgresql": POSTGRES_DROP, "sqlite": SQLITE_DROP})


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run inside a transaction.
    atomic = False

    dependencies = [("chat", "0004_room_creators_own_their_rooms")]

    operations = [migrations.RunPython(search_create, search_drop, elidable=False)]
