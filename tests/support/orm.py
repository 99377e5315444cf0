"""The ORM from async tests: `await db(function)(...)`."""

from channels.db import database_sync_to_async


# region: orm-from-async-tests
def db(function):
    """`function` as a coroutine function run in Django's one thread for sync code.

    channels' wrapper rather than asgiref's `sync_to_async`, as in the consumers:
    it closes the stale and broken connections that thread holds before and
    after each call, so a long test behaves as a long-lived socket does.
    """
    return database_sync_to_async(function)
    # endregion
