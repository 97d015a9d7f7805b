from django.urls import path

from . import views

app_name = "media"

urlpatterns = [
    # Encrypted attachments, decrypted on the way (`?room=&event=` name their message).
    path("media/e/<str:server_name>/<str:media_id>/", views.encrypted, name="encrypted"),
    path("media/<str:server_name>/<str:media_id>/", views.download, name="download"),
    path("media/<str:server_name>/<str:media_id>/thumbnail/", views.thumbnail, name="thumbnail"),
]
