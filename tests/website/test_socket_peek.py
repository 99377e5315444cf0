"""The tutorial's terminal client signs in as a browser does, on a live daphne."""

import json

import pytest

from website.socket_peek import peek, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def test_signing_in_opens_the_socket_with_that_users_session(
    daphne_server, make_user, password, capsys
):
    make_user(username="dora")
    url = f"{daphne_server.ws_url}/ws/"

    cookie = session_cookie(url, username="dora", password=password)
    peek(url, ['{"type": "ping"}'], cookie=cookie)

    first, *rest = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert first == {"stream": "user", "type": "stream.ready", "seq": 0}
    assert {"type": "pong", "heads": {"user": 0}} in rest


def test_a_wrong_password_stops_with_a_message_and_no_socket(daphne_server, make_user):
    make_user(username="dora")

    with pytest.raises(SystemExit, match="Signing in as 'dora' failed: check the username"):
        session_cookie(f"{daphne_server.ws_url}/ws/", username="dora", password="not-hers")
