"""What daphne, as every process here starts it, logs: its start-up, then each request once.

daphne runs with the development settings (DEBUG on, as `make run` has it), where
Django's own default logging used to print each of its records a second time.
"""

import re
import urllib.request
from collections.abc import Callable

import pytest

from tests.support.harness import DaphneServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def dev_daphne(daphne_factory: Callable[..., DaphneServer]) -> DaphneServer:
    return daphne_factory(DJANGO_SETTINGS_MODULE="project.settings.dev")


def request(server: DaphneServer, path: str, host: str | None = None) -> int:
    """The status of a GET, with `host` as the Host header if given."""
    headers = {"Host": host} if host else {}
    try:
        with urllib.request.urlopen(
            urllib.request.Request(server.url + path, headers=headers), timeout=10
        ) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def logged_request(server: DaphneServer, path: str, status: int) -> str:
    """The log once the access line of `GET path` -> `status` is in it (Django logs before)."""
    line = f'"GET {path}" {status} '
    server.wait_until(lambda: line in server.log(), f"logging {line}")
    return server.log()


def test_a_missing_page_is_its_access_line_and_one_warning(dev_daphne):
    assert request(dev_daphne, "/no-such-page") == 404

    log = logged_request(dev_daphne, "/no-such-page", 404)

    assert len(re.findall(r'"GET /no-such-page" 404 ', log)) == 1
    # The warning the tutorial's troubleshooting notes quote, once.
    assert log.count("Not Found: /no-such-page") == 1


def test_a_bad_host_is_its_access_line_and_one_line_naming_the_host(dev_daphne):
    assert request(dev_daphne, "/", host="evil.example") == 400

    log = logged_request(dev_daphne, "/", 400)

    assert len(re.findall(r'"GET /" 400 ', log)) == 1
    # The line the tutorial's troubleshooting quotes, once, and no traceback.
    assert log.count("Invalid HTTP_HOST header: 'evil.example'") == 1
    assert "Traceback" not in log


def test_a_security_warning_is_logged_once(dev_daphne):
    # A POST without the CSRF cookie: the access line says 403, Django's warning says why.
    post = urllib.request.Request(dev_daphne.url + "/accounts/login/", data=b"", method="POST")
    try:
        urllib.request.urlopen(post, timeout=10)
    except urllib.error.HTTPError as error:
        assert error.code == 403

    line = '"POST /accounts/login/" 403 '
    dev_daphne.wait_until(lambda: line in dev_daphne.log(), "logging the 403")

    assert dev_daphne.log().count("CSRF cookie not set") == 1


def test_the_start_up_log_says_where_it_listens_and_nothing_about_http2(dev_daphne):
    log = dev_daphne.log()

    assert "Listening on TCP address" in log or "Configuring endpoint fd:" in log
    assert "HTTP/2" not in log
