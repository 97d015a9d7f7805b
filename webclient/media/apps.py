from django.apps import AppConfig


class MediaConfig(AppConfig):
    name = "webclient.media"
    label = "media"
