from django.http import HttpRequest, HttpResponseRedirect
from django.urls import include, path, reverse


def home(request: HttpRequest) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("rooms:list"))


urlpatterns = [
    path("", home, name="home"),
    path("", include("webclient.accounts.urls")),
    path("", include("webclient.rooms.urls")),
    path("", include("webclient.media.urls")),
]
