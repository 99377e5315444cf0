"""The native topology, and the browser fixtures its tests share with tests/browser."""

from collections.abc import Iterator

import pytest

# The browser tests' Chromium and context fixtures, here too. (Not their
# permission for the ORM beside Playwright's loop: nothing here uses the ORM.)
from tests.support.browser import (  # noqa: F401 - fixtures
    base_url,
    browser_type_launch_args,
    new_context,
)
from tests.support.harness import attach_log
from tests.support.topology import NativeTopology


@pytest.fixture(scope="module")
def topology() -> Iterator[NativeTopology]:
    """The compose stack on loopback, with the demo data loaded (users and content to use)."""
    stack = NativeTopology(replicas=2).start()
    stack.manage("load_demo_data")
    yield stack
    stack.stop()


@pytest.fixture(autouse=True)
def _topology_logs(request: pytest.FixtureRequest) -> None:
    """A failing test shows the logs of every service."""
    if "topology" in request.fixturenames:
        stack = request.getfixturevalue("topology")
        attach_log(
            request.node,
            "services",
            lambda: "\n".join(f"=== {k}\n{v[-4000:]}" for k, v in stack.logs().items()),
        )
