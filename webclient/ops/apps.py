from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "webclient.ops"
    label = "ops"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the deployment checks
