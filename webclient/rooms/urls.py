from django.urls import path

from . import views

app_name = "rooms"

urlpatterns = [
    path("rooms/", views.room_list, name="list"),
    path("rooms/<str:room>/", views.room_view, name="room"),
    path("rooms/<str:room>/timeline/", views.room_timeline, name="timeline"),
    path("rooms/<str:room>/send/", views.send_view, name="send"),
    # The websocket lives at this path (routing.py); over plain HTTP it only says so.
    path("ws/", views.socket_over_http, name="socket"),
]
