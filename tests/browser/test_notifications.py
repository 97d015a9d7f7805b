"""Browser notifications: opt-in, shown for what the homeserver's push rules count (a
mention), not for the room on screen, and a click opens the room at that event."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.helpers import login_with_password, open_room, send_text, shared_room

# A stand-in for the browser's Notification that records what the page shows (headless
# Chromium has no notification centre to look at).
RECORDER = """
(() => {
  const shown = [];
  class RecordingNotification {
    static permission = "granted";
    static requestPermission() { return Promise.resolve("granted"); }
    constructor(title, options) {
      this.title = title; this.options = options || {}; shown.push(this);
    }
  }
  window.Notification = RecordingNotification;
  window.__notifications = shown;
})();
"""


def test_mention_in_another_room_notifies_and_opens_the_event(
    page, webclient_server, synapse, make_user
):
    me = make_user("me", displayname="Me Myself")
    bob = make_user("bob", displayname="Bob Builder")
    quiet = shared_room(synapse, bob, me, name="Quiet room")
    busy = shared_room(synapse, bob, me, name="Busy room")
    page.add_init_script(RECORDER)
    login_with_password(page, webclient_server.url, synapse, me)
    open_room(page, webclient_server.url, quiet)
    toggle = page.locator("#notify-toggle")
    expect(toggle).to_have_text("Notifications on")

    # A message in the room on screen does not notify; a mention elsewhere does.
    send_text(synapse, bob, quiet, "hello, here")
    page.wait_for_selector("#timeline >> text=hello, here")
    event_id = send_text(synapse, bob, busy, f"{me.user_id}: Me Myself, look at this")
    for _ in range(100):
        count = page.evaluate("window.__notifications.length")
        if count:
            break
        page.wait_for_timeout(200)
    shown = page.evaluate(
        "window.__notifications.map(n => "
        "({title: n.title, body: n.options.body, tag: n.options.tag}))"
    )
    assert len(shown) == 1, shown
    assert "Busy room" in shown[0]["title"] and "look at this" in shown[0]["body"]
    assert shown[0]["tag"] == busy

    # Clicking it opens the room at that event.
    page.evaluate("window.__notifications[0].onclick()")
    page.wait_for_selector(".event.highlighted")
    assert page.get_attribute(".event.highlighted", "data-event-id") == event_id

    # Turned off, nothing more is shown.
    page.click("#notify-toggle")
    expect(page.locator("#notify-toggle")).to_have_text("Turn on notifications")
    send_text(synapse, bob, quiet, f"{me.user_id}: another mention")
    page.wait_for_timeout(3000)
    assert page.evaluate("window.__notifications.length") == 0
