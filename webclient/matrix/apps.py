from django.apps import AppConfig


class MatrixConfig(AppConfig):
    name = "webclient.matrix"
    label = "matrix"
    verbose_name = "Matrix sessions"

    def ready(self) -> None:
        from . import signals  # noqa: F401 - connects the receivers
