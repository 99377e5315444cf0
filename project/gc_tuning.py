"""Garbage-collection settings for the server processes.

A long-lived server holds hundreds of thousands of objects made at start-up
(Django, the apps, the URL and template machinery) that live until it exits.
CPython's full collections walk all of them, every time: with a thousand
sockets open that is a pause of tens of milliseconds every few seconds, on
every socket at once. Freezing the start-up objects takes them out of every
later collection, and a higher first-generation threshold makes collections
rarer; neither changes what is freed, only when the collector looks.
"""

import gc

# Allocations (minus deallocations) between young collections; CPython's default is 700.
THRESHOLD = 50_000


def tune() -> None:
    """Call once, after everything the process needs has been imported."""
    gc.collect()
    gc.freeze()
    _, second, third = gc.get_threshold()
    gc.set_threshold(THRESHOLD, second, third)
