"""`{% tile_time %}` writes the `<time>` element the three `date` filters wrote, in every
language and time zone a reader can choose (it is on the path from a sync to the screen)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from django.template import Context, Template
from django.utils import timezone, translation

FILTERS = Template(
    "<time datetime=\"{{ t|date:'c' }}\" title=\"{{ t|date:'DATETIME_FORMAT' }}\">"
    "{{ t|date:'H:i' }}</time>"
)
TAG = Template("{% load tile_time %}{% tile_time t %}")
MOMENTS = [
    datetime.fromtimestamp(ms / 1000, tz=UTC)
    for ms in (1, 1_700_000_000_123, 1_711_846_800_000, 1_730_000_000_999, 4_102_444_799_000)
]


@pytest.mark.parametrize(
    ("language", "zone"),
    list(
        itertools.product(
            ["en", "de"],
            ["UTC", "Europe/Berlin", "America/St_Johns", "Pacific/Chatham", "Asia/Kolkata"],
        )
    ),
)
def test_same_element_as_the_date_filters(language, zone):
    with translation.override(language), timezone.override(zone):
        for moment in MOMENTS:
            context = {"t": moment}
            assert TAG.render(Context(context)) == FILTERS.render(Context(context)), moment


def test_nothing_without_a_time():
    assert TAG.render(Context({"t": None})) == ""
