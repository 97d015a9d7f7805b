from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "webclient.rooms"
    label = "rooms"
