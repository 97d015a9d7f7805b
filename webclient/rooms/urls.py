from django.urls import path

from . import (
    composing,
    embed,
    emoji,
    kiosk,
    knocking,
    members,
    membership,
    moderation,
    previews,
    reading,
    reporting,
    room_settings,
    search,
    spaces,
    switcher,
)
from .integrations import integrations_view

app_name = "rooms"

urlpatterns = [
    path("rooms/", reading.room_list, name="list"),
    path("search/", search.search_view, name="search"),
    path("emoji/", emoji.emoji_data, name="emoji_data"),
    path("spaces/<str:space>/", spaces.space_view, name="space"),
    # Before rooms/<room>/: these words are not room IDs or aliases.
    path("rooms/new/", membership.CreateRoomPage.as_view(), name="create"),
    path("rooms/dm/", membership.dm_view, name="dm"),
    path("rooms/join/", membership.join_view, name="join"),
    path("rooms/directory/", membership.directory_view, name="directory"),
    path("rooms/switcher/", switcher.switcher_data, name="switcher"),
    path("rooms/<str:room>/", reading.room_view, name="room"),
    path("rooms/<str:room>/timeline/", reading.room_timeline, name="timeline"),
    path("rooms/<str:room>/pane/", reading.room_pane, name="room_pane"),
    path("rooms/<str:room>/emoji/", emoji.room_emoji, name="room_emoji"),
    path("rooms/<str:room>/preview/", previews.preview_fragment, name="url_preview"),
    path("rooms/<str:room>/previews/", previews.room_switch_view, name="room_previews"),
    path("rooms/<str:room>/send/", composing.send_view, name="send"),
    path("rooms/<str:room>/search/", search.room_search_view, name="room_search"),
    path("rooms/<str:room>/members/", members.members_view, name="members"),
    path("rooms/<str:room>/members/invite/", members.invite_view, name="invite"),
    path("rooms/<str:room>/members/knock/", knocking.knock_answer_view, name="knock_answer"),
    path("rooms/<str:room>/knock/", knocking.knock_view, name="knock"),
    path("rooms/<str:room>/integrations/", integrations_view, name="integrations"),
    path("rooms/<str:room>/invite/", membership.invitation_view, name="invitation"),
    path("rooms/<str:room>/settings/", room_settings.settings_view, name="settings"),
    path("rooms/<str:room>/settings/avatar/", room_settings.avatar_view, name="settings_avatar"),
    path(
        "rooms/<str:room>/settings/addresses/",
        room_settings.addresses_view,
        name="settings_addresses",
    ),
    path("rooms/<str:room>/settings/access/", room_settings.access_view, name="settings_access"),
    path("rooms/<str:room>/settings/power/", room_settings.power_view, name="settings_power"),
    path("rooms/<str:room>/tags/", spaces.tags_view, name="tags"),
    path("rooms/<str:room>/unread/", spaces.unread_view, name="unread"),
    path("rooms/<str:room>/leave/", membership.leave_view, name="leave"),
    path("rooms/<str:room>/forget/", membership.forget_view, name="forget"),
    path("rooms/<str:room>/thread/<str:root_id>/", reading.thread_view, name="thread"),
    path("rooms/<str:room>/event/<str:event_id>/", reading.event_view, name="event"),
    path("rooms/<str:room>/people/<str:user_id>/", moderation.person_view, name="person"),
    path("rooms/<str:room>/event/<str:event_id>/react/", composing.react_view, name="react"),
    path("rooms/<str:room>/event/<str:event_id>/edit/", composing.edit_view, name="edit"),
    path("rooms/<str:room>/event/<str:event_id>/delete/", composing.redact_view, name="redact"),
    path("rooms/<str:room>/event/<str:event_id>/vote/", composing.vote_view, name="vote"),
    path(
        "rooms/<str:room>/event/<str:event_id>/end-poll/", composing.end_poll_view, name="end_poll"
    ),
    path("rooms/<str:room>/event/<str:event_id>/pin/", composing.pin_view, name="pin"),
    path("rooms/<str:room>/pins/", reading.pins_view, name="pins"),
    path(
        "rooms/<str:room>/event/<str:event_id>/report/",
        reporting.report_event_view,
        name="report_event",
    ),
    path("rooms/<str:room>/report/", reporting.report_room_view, name="report_room"),
    path(
        "rooms/<str:room>/people/<str:user_id>/report/",
        reporting.report_user_view,
        name="report_user",
    ),
    # Embedding: the page, and what its ticket opens (timeline fragments, media).
    path("embed/<str:room>/", embed.embed_view, name="embed"),
    path("embed/t/<str:ticket>/", embed.embed_timeline, name="embed_ticket_root"),
    path(
        "embed/t/<str:ticket>/media/e/<str:server_name>/<str:media_id>/",
        embed.embed_encrypted,
        name="embed_encrypted",
    ),
    path(
        "embed/t/<str:ticket>/media/<str:server_name>/<str:media_id>/",
        embed.embed_media,
        name="embed_media",
    ),
    path(
        "embed/t/<str:ticket>/media/<str:server_name>/<str:media_id>/thumbnail/",
        embed.embed_thumbnail,
        name="embed_thumbnail",
    ),
    # Kiosk screens, and their links in the settings.
    path("kiosk/<str:token>/", kiosk.kiosk_view, name="kiosk"),
    path("kiosk/<str:token>/timeline/<str:room_id>/", kiosk.kiosk_timeline, name="kiosk_timeline"),
    path(
        "kiosk/<str:token>/media/e/<str:server_name>/<str:media_id>/",
        kiosk.kiosk_encrypted,
        name="kiosk_encrypted",
    ),
    path(
        "kiosk/<str:token>/media/<str:server_name>/<str:media_id>/",
        kiosk.kiosk_media,
        name="kiosk_media",
    ),
    path(
        "kiosk/<str:token>/media/<str:server_name>/<str:media_id>/thumbnail/",
        kiosk.kiosk_thumbnail,
        name="kiosk_thumbnail",
    ),
    path("settings/previews/", previews.account_switch_view, name="url_previews"),
    path("settings/kiosks/", kiosk.links_view, name="kiosk_links"),
    path("settings/kiosks/new/", kiosk.create_link_view, name="create_kiosk_link"),
    path("settings/kiosks/<int:pk>/revoke/", kiosk.revoke_link_view, name="revoke_kiosk_link"),
    path("settings/kiosks/<int:pk>/state/", kiosk.show_state_view, name="kiosk_show_state"),
    # The websocket lives at this path (routing.py); over plain HTTP it only says so.
    path("ws/", reading.socket_over_http, name="socket"),
]
