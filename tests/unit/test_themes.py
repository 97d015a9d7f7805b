"""Themes: which names reach <html data-theme>, and the preference form's choices."""

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory

from webclient.accounts.preferences import ThemeForm
from webclient.matrix.models import KIOSK_THEMES, THEMES
from webclient.web.context import THEME_LABELS, login, theme_of


@pytest.mark.parametrize("name", THEMES)
def test_known_themes_pass(name):
    assert theme_of(name) == name


@pytest.mark.parametrize(
    "value", ["", None, 3, "Dark", "blue", 'dark" onload="x', "contrast ", ["dark"]]
)
def test_anything_else_follows_the_browser(value):
    assert theme_of(value) == ""


def test_every_theme_has_a_label_and_kiosks_offer_them_all():
    assert set(THEME_LABELS) == set(THEMES)
    assert set(KIOSK_THEMES) == set(THEMES)


def test_context_gives_the_login_theme_and_nothing_without_a_login():
    request = RequestFactory().get("/")
    assert login(request) == {"credential": None, "theme": ""}
    request.credential = SimpleNamespace(theme="contrast")
    assert login(request)["theme"] == "contrast"
    request.credential = SimpleNamespace(theme="neon")
    assert login(request)["theme"] == ""


@pytest.mark.parametrize("value", ["", *THEMES])
def test_theme_form_takes_each_choice_and_follow_the_browser(value):
    form = ThemeForm({"theme": value})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["theme"] == value


def test_theme_form_refuses_an_unknown_theme():
    form = ThemeForm({"theme": "neon"})
    assert not form.is_valid()
    assert "Choose one of the themes" in str(form.errors["theme"])


def test_base_template_writes_the_theme_as_an_attribute_only_when_chosen():
    chosen = render_to_string("base.html", {"theme": "dark"})
    assert re.search(r'<html [^>]*data-theme="dark"', chosen)
    assert "data-theme" not in render_to_string("base.html", {"theme": ""})


COLOUR = re.compile(r"#[0-9a-fA-F]{3,8}\b|\b(?:rgba?|hsla?|hwb|lab|lch|oklab|oklch)\(")


def test_every_colour_of_the_stylesheets_goes_through_the_theme_properties():
    """Colours are written only in custom-property declarations (the three theme sets), so
    every theme reaches every rule of the client, kiosks and embeds."""
    css_dir = Path(__file__).resolve().parents[2] / "static" / "css"
    offending = []
    for path in sorted(css_dir.glob("*.css")):
        text = re.sub(r"/\*.*?\*/", "", path.read_text(), flags=re.S)
        for declaration in re.split(r"[;{}]", text):
            name, _, value = declaration.partition(":")
            if COLOUR.search(value) and not name.strip().startswith("--"):
                offending.append(f"{path.name}: {declaration.strip()}")
    assert offending == []


def test_each_theme_sets_the_same_properties():
    css = (Path(__file__).resolve().parents[2] / "static" / "css" / "webclient.css").read_text()
    light = re.search(r":root, :root\[data-theme=light\] \{(.*?)\}", css, re.S)[1]
    base = set(re.findall(r"(--[\w-]+):", light))
    for theme in ("dark", "contrast"):
        block = re.search(r":root\[data-theme=" + theme + r"\] \{(.*?)\}", css, re.S)[1]
        assert set(re.findall(r"(--[\w-]+):", block)) <= base, theme
        assert {"--bg", "--fg", "--muted", "--accent", "--danger", "--focus"} <= set(
            re.findall(r"(--[\w-]+):", block)
        ), theme


def test_the_browser_preference_gives_the_same_colours_as_the_chosen_theme():
    """Dark and high contrast are written twice (under the media query, for viewers who have
    not chosen, and under data-theme): the two copies must not drift apart."""
    css = (Path(__file__).resolve().parents[2] / "static" / "css" / "webclient.css").read_text()

    def declarations(block: str) -> dict[str, str]:
        return dict(
            (name.strip(), value.strip())
            for name, _, value in (d.partition(":") for d in block.split(";"))
            if name.strip().startswith("--") or name.strip() == "color-scheme"
        )

    for query, theme in [
        ("prefers-color-scheme: dark", "dark"),
        ("prefers-contrast: more", "contrast"),
    ]:
        followed = re.search(
            r"@media \(" + query + r"\) \{\s*:root:not\(\[data-theme\]\) \{(.*?)\}", css, re.S
        )[1]
        chosen = re.search(r":root\[data-theme=" + theme + r"\] \{(.*?)\}", css, re.S)[1]
        assert declarations(followed) == declarations(chosen), theme
