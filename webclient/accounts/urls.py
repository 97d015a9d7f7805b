from django.urls import path

from . import advanced, devices, profile, register, sso, views

app_name = "accounts"

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("login/sso/start/", sso.start_view, name="sso_start"),
    path("login/sso/callback/", sso.callback_view, name="sso_callback"),
    path("register/", register.register_view, name="register"),
    path("settings/profile/", profile.profile_view, name="profile"),
    path("settings/password/", profile.password_view, name="password"),
    path("settings/devices/", devices.devices_view, name="devices"),
    path("users/<str:user_id>/", profile.user_view, name="user"),
    path("settings/advanced/", advanced.advanced_view, name="advanced"),
    path("settings/advanced/reveal/", advanced.reveal_view, name="reveal_token"),
    path("settings/automation/", advanced.automation_view, name="automation"),
    path("settings/automation/new/", advanced.create_automation_view, name="create_automation"),
    path(
        "settings/automation/<int:pk>/revoke/",
        advanced.revoke_automation_view,
        name="revoke_automation",
    ),
]
