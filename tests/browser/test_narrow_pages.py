"""Every page fits a 320 px wide screen without sideways scrolling, and what one taps on a
narrow screen is at least 44 px high (links inside Matrix-supplied text, which are words in
a sentence, excepted as WCAG 2.5.8 does). Real pages of a real login against real Synapse."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from tests.synapse_fixtures import matrix_api

from .helpers import CS, create_room, login_with_password, q, send_text, shared_room

PHONE = {"width": 320, "height": 640}

# What overflows and what is too small to tap: the page's own measure, in the browser.
MEASURE = """() => {
  const doc = document.documentElement;
  function inSentence(el) {
    const parent = el.parentElement;
    if (!parent) return false;
    return Array.from(parent.childNodes).some(
      (n) => n.nodeType === 3 && n.textContent.trim().length > 1);
  }
  function describe(el) {
    let text = el.tagName.toLowerCase();
    if (el.id) text += '#' + el.id;
    if (el.className && typeof el.className === 'string') {
      text += '.' + el.className.trim().split(/\\s+/).join('.');
    }
    const label = el.textContent || el.value || el.getAttribute('aria-label') || '';
    const words = label.trim().slice(0, 30);
    return text + ' "' + words + '"';
  }
  const small = [];
  const sel = 'a[href], button, summary, input:not([type=hidden]), select, textarea';
  for (const el of document.querySelectorAll(sel)) {
    if (el.closest('.event-body, .room-topic, .visually-hidden')) continue;
    let target = el;
    if (!el.checkVisibility({ visibilityProperty: true })) continue; // e.g. in a closed <details>
    if (el.matches('input[type=checkbox], input[type=radio]')) {
      const byId = el.id && document.querySelector('label[for="' + el.id + '"]');
      target = el.closest('label') || byId || el;
    }
    const box = target.getBoundingClientRect();
    if (box.width < 2 || box.height < 2) continue; // not shown
    if (el.tagName === 'A' && inSentence(el)) continue;
    if (box.height < 43.5) small.push(describe(el) + ': ' + Math.round(box.height) + ' px');
  }
  const wide = [];
  if (doc.scrollWidth > doc.clientWidth) {
    for (const el of document.body.querySelectorAll('*')) {
      const box = el.getBoundingClientRect();
      if (box.right > doc.clientWidth + 1 && box.width > 0) {
        wide.push(describe(el) + ': ' + Math.round(box.right));
      }
    }
  }
  return { scroll: doc.scrollWidth, client: doc.clientWidth, small: small, wide: wide.slice(0, 8) };
}"""


def check(page: Page, url: str) -> list[str]:
    """The problems of one page at 320 px, as sentences (none: it fits)."""
    response = page.goto(url)
    assert response is not None and response.status < 400, (url, response and response.status)
    page.wait_for_load_state("load")
    found = page.evaluate(MEASURE)
    problems = []
    if found["scroll"] > found["client"]:
        problems.append(f"{url}: {found['scroll']} px wide in {found['client']}: {found['wide']}")
    problems += [f"{url}: {what}" for what in found["small"]]
    return problems


def measure_open(page: Page, what: str) -> list[str]:
    found = page.evaluate(MEASURE)
    problems = [f"{what}: {small}" for small in found["small"]]
    if found["scroll"] > found["client"]:
        problems.append(f"{what}: {found['scroll']} px wide: {found['wide']}")
    return problems


@pytest.fixture
def setting(synapse, make_user):
    tag = time.monotonic_ns() % 100000
    other = make_user("other", displayname=f"Olga with a rather long display name {tag}")
    me = make_user("me", displayname="Mia")
    long_name = f"A room with a very long name that would not fit on a phone {tag}"
    room = shared_room(
        synapse,
        other,
        me,
        name=long_name,
        topic="A topic long enough to wrap several times on a narrow phone screen, "
        "with a link https://example.org/a/very/long/path/that/does/not/break/easily",
    )
    send_text(synapse, other, room, "hello " + "x" * 120)
    root = send_text(synapse, other, room, "a thread starts here")
    matrix_api(
        synapse.url,
        other.access_token,
        "PUT",
        f"{CS}/rooms/{q(room)}/send/m.room.message/t{tag}",
        {
            "msgtype": "m.text",
            "body": "in the thread",
            "m.relates_to": {"rel_type": "m.thread", "event_id": root},
        },
    )
    space = create_room(synapse, me, name="A space", creation_content={"type": "m.space"})
    invited = create_room(synapse, other, name="An invitation")
    matrix_api(
        synapse.url,
        other.access_token,
        "POST",
        f"{CS}/rooms/{q(invited)}/invite",
        {"user_id": me.user_id},
    )
    return me, other, room, root, space, invited


def test_every_page_fits_320_px_and_targets_are_44_px(browser, webclient_server, synapse, setting):
    me, other, room, root, space, invited = setting
    base = webclient_server.url
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(15000)
    problems: list[str] = []
    try:
        for url in (f"{base}/login/", f"{base}/register/"):
            problems += check(page, url)
        page.set_viewport_size({"width": 1280, "height": 800})
        login_with_password(page, base, synapse, me)
        # A kiosk link, made in the settings (on a wide screen, as one would).
        page.goto(f"{base}/settings/kiosks/")
        form = page.locator("#create-kiosk-form")
        form.locator("input[name=name]").fill("hall")
        form.locator(f'input[name=rooms][value="{room}"]').check()
        form.locator("input[name=password]").fill(me.password)
        form.locator("#create-kiosk-button").click()
        kiosk = page.locator("#new-kiosk-url").input_value()
        page.set_viewport_size(PHONE)
        r = q(room)
        urls = [
            "/rooms/",
            f"/rooms/{r}/",
            f"/rooms/{r}/event/{q(root)}/",
            f"/rooms/{r}/thread/{q(root)}/",
            f"/rooms/{r}/members/",
            f"/rooms/{r}/settings/",
            f"/rooms/{r}/integrations/",
            f"/rooms/{r}/search/?q=hello",
            f"/rooms/{r}/people/{q(other.user_id)}/",
            f"/rooms/{r}/report/",
            f"/rooms/{r}/event/{q(root)}/react/",
            f"/rooms/{r}/leave/",
            f"/rooms/{q(invited)}/invite/",
            f"/spaces/{q(space)}/",
            "/search/?q=hello",
            "/rooms/new/",
            "/rooms/dm/",
            "/rooms/join/",
            "/rooms/directory/",
            "/settings/profile/",
            "/settings/password/",
            "/settings/devices/",
            "/settings/encryption/",
            "/settings/advanced/",
            "/settings/automation/",
            "/settings/kiosks/",
            "/settings/previews/",
            f"/users/{q(other.user_id)}/",
            f"/embed/{r}/",
        ]
        for path in urls:
            problems += check(page, base + path)
        problems += check(page, kiosk)
        # The room menu and a message's actions, opened: they fit too.
        page.goto(f"{base}/rooms/{r}/")
        page.locator("#room-menu > summary").click()
        expect(page.locator("#integrations-link")).to_be_visible()
        problems += measure_open(page, "room menu open")
        page.locator("#room-menu > summary").click()
        page.locator("#timeline .actions-toggle").last.click()
        expect(page.locator("#timeline .actions-menu:popover-open .action-reply")).to_be_visible()
        problems += measure_open(page, "message actions open")
    finally:
        context.close()
    assert not problems, "\n".join(problems)
