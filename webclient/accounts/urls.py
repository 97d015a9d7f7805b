from django.urls import path

from . import (
    advanced,
    automation,
    devices,
    encryption,
    language,
    password,
    people,
    preferences,
    profile,
    registration,
    signin,
    sso,
    verification,
)

app_name = "accounts"

urlpatterns = [
    path("login/", signin.login_view, name="login"),
    path("logout/", signin.logout_view, name="logout"),
    path("login/sso/start/", sso.start_view, name="sso_start"),
    path("login/sso/callback/", sso.callback_view, name="sso_callback"),
    path("register/", registration.register_view, name="register"),
    path("settings/profile/", profile.ProfilePage.as_view(), name="profile"),
    path("settings/password/", password.PasswordPage.as_view(), name="password"),
    path("settings/preferences/", preferences.PreferencesPage.as_view(), name="preferences"),
    path("settings/language/", language.LanguagePage.as_view(), name="language"),
    path("settings/devices/", devices.DevicesPage.as_view(), name="devices"),
    path("settings/encryption/", encryption.EncryptionPage.as_view(), name="encryption"),
    path("settings/encryption/verify/", verification.VerifyPage.as_view(), name="verify"),
    path("users/<str:user_id>/", people.user_view, name="user"),
    path("settings/advanced/", advanced.advanced_view, name="advanced"),
    path("settings/advanced/reveal/", advanced.reveal_view, name="reveal_token"),
    path("settings/automation/", automation.automation_view, name="automation"),
    path("settings/automation/new/", automation.create_automation_view, name="create_automation"),
    path(
        "settings/automation/<int:pk>/revoke/",
        automation.revoke_automation_view,
        name="revoke_automation",
    ),
]
