from django.apps import AppConfig


class TimelineConfig(AppConfig):
    name = "webclient.timeline"
    label = "timeline"
