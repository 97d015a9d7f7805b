from django.urls import path

from webclient.live.consumer import TimelineConsumer

websocket_urlpatterns = [path("ws/", TimelineConsumer.as_asgi())]
