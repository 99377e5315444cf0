"""`manage.py run_banner`: `make run`'s last words, once the server listens."""

import socket
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from website.management.commands.load_demo_data import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    DEMO_PASSWORD,
    DEMO_USERS,
)


@pytest.fixture
def listener():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock


def banner(port: int, **options) -> str:
    out = StringIO()
    call_command("run_banner", port=port, stdout=out, **options)
    return out.getvalue()


def test_it_names_the_address_to_open_and_every_demo_account(listener):
    port = listener.getsockname()[1]

    text = banner(port)

    assert f"Open http://127.0.0.1:{port}/ " in text
    assert all(username in text for username in DEMO_USERS)
    assert DEMO_PASSWORD in text
    assert f"http://127.0.0.1:{port}/admin/ as {ADMIN_USERNAME}, password {ADMIN_PASSWORD}" in text


@override_settings(ADMIN_URL="")
def test_without_an_admin_it_offers_none(listener):
    assert "admin" not in banner(listener.getsockname()[1])


def test_it_waits_for_the_server_to_listen(monkeypatch):
    from website.management.commands import run_banner

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    refused, done, out = threading.Event(), threading.Event(), StringIO()

    def listening(host: str, port: int) -> bool:
        answer = run_banner.listening.__wrapped__(host, port)
        if not answer:
            refused.set()
        return answer

    listening.__wrapped__ = run_banner.listening
    monkeypatch.setattr(run_banner, "listening", listening)

    def run() -> None:
        call_command("run_banner", port=port, stdout=out)
        done.set()

    waiter = threading.Thread(target=run)
    waiter.start()
    try:
        # Bound but not listening: the connect is refused, and nothing is printed yet.
        assert refused.wait(10)
        assert out.getvalue() == ""
        sock.listen()
        assert done.wait(10)
    finally:
        sock.close()
        waiter.join()
    assert f"http://127.0.0.1:{port}/" in out.getvalue()


def test_it_gives_up_when_nothing_listens():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with pytest.raises(CommandError, match="nothing listens"):
            banner(port, wait=0.3)
