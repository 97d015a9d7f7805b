from django.urls import path

from webclient.accounts.advanced import integrations_view

from . import actions, manage, members, moderation, search, views

app_name = "rooms"

urlpatterns = [
    path("rooms/", views.room_list, name="list"),
    path("search/", search.search_view, name="search"),
    # Before rooms/<room>/: these words are not room IDs or aliases.
    path("rooms/new/", manage.create_view, name="create"),
    path("rooms/dm/", manage.dm_view, name="dm"),
    path("rooms/join/", manage.join_view, name="join"),
    path("rooms/directory/", manage.directory_view, name="directory"),
    path("rooms/<str:room>/", views.room_view, name="room"),
    path("rooms/<str:room>/timeline/", views.room_timeline, name="timeline"),
    path("rooms/<str:room>/send/", views.send_view, name="send"),
    path("rooms/<str:room>/search/", search.room_search_view, name="room_search"),
    path("rooms/<str:room>/members/", members.members_view, name="members"),
    path("rooms/<str:room>/members/invite/", members.invite_view, name="invite"),
    path("rooms/<str:room>/integrations/", integrations_view, name="integrations"),
    path("rooms/<str:room>/invite/", manage.invitation_view, name="invitation"),
    path("rooms/<str:room>/settings/", manage.settings_view, name="settings"),
    path("rooms/<str:room>/leave/", manage.leave_view, name="leave"),
    path("rooms/<str:room>/forget/", manage.forget_view, name="forget"),
    path("rooms/<str:room>/thread/<str:root_id>/", views.thread_view, name="thread"),
    path("rooms/<str:room>/event/<str:event_id>/", views.event_view, name="event"),
    path("rooms/<str:room>/people/<str:user_id>/", moderation.person_view, name="person"),
    path("rooms/<str:room>/event/<str:event_id>/react/", actions.react_view, name="react"),
    path("rooms/<str:room>/event/<str:event_id>/edit/", actions.edit_view, name="edit"),
    path("rooms/<str:room>/event/<str:event_id>/delete/", actions.redact_view, name="redact"),
    # The websocket lives at this path (routing.py); over plain HTTP it only says so.
    path("ws/", views.socket_over_http, name="socket"),
]
