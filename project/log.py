"""Logging helpers that settings.LOGGING names (it cannot hold code itself)."""

import logging


def without_traceback(record: logging.LogRecord) -> bool:
    """Keep the record, drop its traceback: for a warning whose message says it all."""
    record.exc_info = None
    record.exc_text = None
    return True
