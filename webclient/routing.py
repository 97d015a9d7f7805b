from django.urls import path

from webclient.rooms.consumers import TimelineConsumer

websocket_urlpatterns = [path("ws/", TimelineConsumer.as_asgi())]
