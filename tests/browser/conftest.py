"""Browser tests drive Chromium with Playwright's sync API, which keeps its own event loop
running in the main thread; pytest-asyncio cannot run an async fixture beside it
("Runner.run() cannot be called from a running event loop"). These tests start no sync loops
in the test process (the client runs in a daphne subprocess), so the async clean-up fixture of
tests/conftest.py is replaced here by a no-op.

A failing browser test gets the tail of the daphne server's log in its report."""

import pytest

from tests.browser.chromium import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(autouse=True)
def _stop_sessions() -> None:
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and call.when == "call":
        server = item.funcargs.get("webclient_server")
        if server is not None:
            try:
                tail = "\n".join(server.log().splitlines()[-80:])
            except OSError as exc:
                tail = f"(no log: {exc})"
            report.sections.append(("daphne log (last 80 lines)", tail))
    return report


# Package scope, not session: Playwright's sync API keeps its event loop running in the main
# thread while it is open, and async tests that run after the browser tests would find it.
@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()
