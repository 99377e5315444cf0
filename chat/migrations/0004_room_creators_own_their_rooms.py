"""Rooms from before memberships: each creator owns their room, each author is a member.

Every existing room is public (0003's default). Those who wrote in a room are
members of it, as sending in a public room now joins it; their read position
starts at the room's head, so the history they had already seen is not all
unread the first time they look.
"""

from django.db import migrations


def memberships_create(apps, schema_editor) -> None:
    Room = apps.get_model("chat", "Room")
    Membership = apps.get_model("chat", "Membership")
    Message = apps.get_model("chat", "Message")
    for room in Room.objects.all().iterator():
        roles = {}
        authors = Message.objects.filter(room=room).values_list("author_id", flat=True)
        for author_id in authors.order_by().distinct():
            roles[author_id] = "member"
        if room.created_by_id is not None:
            roles[room.created_by_id] = "owner"
        Membership.objects.bulk_create(
            Membership(room=room, user_id=user_id, role=role, read=room.last_seq)
            for user_id, role in roles.items()
        )


def memberships_delete(apps, schema_editor) -> None:
    apps.get_model("chat", "Membership").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("chat", "0003_rooms_kinds_memberships_mentions")]

    operations = [migrations.RunPython(memberships_create, memberships_delete)]
