from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "webclient.accounts"
    label = "accounts"
