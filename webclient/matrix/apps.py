from django.apps import AppConfig


class MatrixConfig(AppConfig):
    name = "webclient.matrix"
    label = "matrix"
    verbose_name = "Matrix sessions"
