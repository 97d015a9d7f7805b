"""`{{ name|sas_name }}`: an emoji's name from the spec's SAS table (matrix/crypto/sas.py,
English, as both devices compare them) in the viewer's language. Listed here so that
makemessages finds them; the context keeps "Pin" (the emoji) apart from "Pin" (the action)."""

from __future__ import annotations

from django import template
from django.utils.translation import pgettext_lazy

from webclient.matrix.crypto.sas import EMOJI

register = template.Library()

_NAMES = dict(
    zip(
        [name for _symbol, name in EMOJI],
        [
            pgettext_lazy("SAS emoji", "Dog"),
            pgettext_lazy("SAS emoji", "Cat"),
            pgettext_lazy("SAS emoji", "Lion"),
            pgettext_lazy("SAS emoji", "Horse"),
            pgettext_lazy("SAS emoji", "Unicorn"),
            pgettext_lazy("SAS emoji", "Pig"),
            pgettext_lazy("SAS emoji", "Elephant"),
            pgettext_lazy("SAS emoji", "Rabbit"),
            pgettext_lazy("SAS emoji", "Panda"),
            pgettext_lazy("SAS emoji", "Rooster"),
            pgettext_lazy("SAS emoji", "Penguin"),
            pgettext_lazy("SAS emoji", "Turtle"),
            pgettext_lazy("SAS emoji", "Fish"),
            pgettext_lazy("SAS emoji", "Octopus"),
            pgettext_lazy("SAS emoji", "Butterfly"),
            pgettext_lazy("SAS emoji", "Flower"),
            pgettext_lazy("SAS emoji", "Tree"),
            pgettext_lazy("SAS emoji", "Cactus"),
            pgettext_lazy("SAS emoji", "Mushroom"),
            pgettext_lazy("SAS emoji", "Globe"),
            pgettext_lazy("SAS emoji", "Moon"),
            pgettext_lazy("SAS emoji", "Cloud"),
            pgettext_lazy("SAS emoji", "Fire"),
            pgettext_lazy("SAS emoji", "Banana"),
            pgettext_lazy("SAS emoji", "Apple"),
            pgettext_lazy("SAS emoji", "Strawberry"),
            pgettext_lazy("SAS emoji", "Corn"),
            pgettext_lazy("SAS emoji", "Pizza"),
            pgettext_lazy("SAS emoji", "Cake"),
            pgettext_lazy("SAS emoji", "Heart"),
            pgettext_lazy("SAS emoji", "Smiley"),
            pgettext_lazy("SAS emoji", "Robot"),
            pgettext_lazy("SAS emoji", "Hat"),
            pgettext_lazy("SAS emoji", "Glasses"),
            pgettext_lazy("SAS emoji", "Spanner"),
            pgettext_lazy("SAS emoji", "Santa"),
            pgettext_lazy("SAS emoji", "Thumbs Up"),
            pgettext_lazy("SAS emoji", "Umbrella"),
            pgettext_lazy("SAS emoji", "Hourglass"),
            pgettext_lazy("SAS emoji", "Clock"),
            pgettext_lazy("SAS emoji", "Gift"),
            pgettext_lazy("SAS emoji", "Light Bulb"),
            pgettext_lazy("SAS emoji", "Book"),
            pgettext_lazy("SAS emoji", "Pencil"),
            pgettext_lazy("SAS emoji", "Paperclip"),
            pgettext_lazy("SAS emoji", "Scissors"),
            pgettext_lazy("SAS emoji", "Lock"),
            pgettext_lazy("SAS emoji", "Key"),
            pgettext_lazy("SAS emoji", "Hammer"),
            pgettext_lazy("SAS emoji", "Telephone"),
            pgettext_lazy("SAS emoji", "Flag"),
            pgettext_lazy("SAS emoji", "Train"),
            pgettext_lazy("SAS emoji", "Bicycle"),
            pgettext_lazy("SAS emoji", "Aeroplane"),
            pgettext_lazy("SAS emoji", "Rocket"),
            pgettext_lazy("SAS emoji", "Trophy"),
            pgettext_lazy("SAS emoji", "Ball"),
            pgettext_lazy("SAS emoji", "Guitar"),
            pgettext_lazy("SAS emoji", "Trumpet"),
            pgettext_lazy("SAS emoji", "Bell"),
            pgettext_lazy("SAS emoji", "Anchor"),
            pgettext_lazy("SAS emoji", "Headphones"),
            pgettext_lazy("SAS emoji", "Folder"),
            pgettext_lazy("SAS emoji", "Pin"),
        ],
        strict=True,
    )
)


@register.filter
def sas_name(name: str) -> str:
    """The translated name of a SAS emoji (its English name when not in the table)."""
    return str(_NAMES.get(name, name))
