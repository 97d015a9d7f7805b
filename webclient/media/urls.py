from django.urls import path

from . import views

app_name = "media"

urlpatterns = [
    path("media/<str:server_name>/<str:media_id>/", views.download, name="download"),
    path("media/<str:server_name>/<str:media_id>/thumbnail/", views.thumbnail, name="thumbnail"),
]
