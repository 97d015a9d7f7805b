from django.http import HttpRequest, HttpResponseRedirect
from django.urls import include, path, reverse
from django.views.decorators.cache import cache_control
from django.views.i18n import JavaScriptCatalog, set_language


def home(request: HttpRequest) -> HttpResponseRedirect:
    return HttpResponseRedirect(reverse("rooms:list"))


urlpatterns = [
    path("", home, name="home"),
    # The language chosen before signing in (a cookie), and the strings of static/js in the
    # active language (a script of this origin: the pages' CSP allows no inline script).
    path("i18n/setlang/", set_language, name="set_language"),
    # Cached for an hour (it varies by language: Vary: Accept-Language, Cookie).
    path(
        "jsi18n/",
        cache_control(max_age=3600)(JavaScriptCatalog.as_view()),
        name="javascript-catalog",
    ),
    path("", include("webclient.accounts.urls")),
    path("", include("webclient.rooms.urls")),
    path("", include("webclient.media.urls")),
]
