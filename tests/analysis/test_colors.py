"""Named colours of people and vehicles (analysis/colors.py) on pictures whose colours are known."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import colors

RGB = {
    "black": (12, 12, 14), "white": (240, 240, 236), "grey": (128, 128, 128), "red": (200, 30, 35),
    "orange": (240, 130, 20), "yellow": (235, 215, 40), "green": (40, 150, 60), "blue": (40, 70, 190),
    "purple": (120, 50, 150), "pink": (245, 160, 190), "brown": (110, 70, 35), "beige": (215, 195, 160),
    "denim": (70, 85, 115),
}


def scene(upper, lower, *, background=(120, 122, 118), box=(0.4, 0.2, 0.6, 0.9), size=(200, 300)):
    """A person-shaped box painted ``upper`` above its waist and ``lower`` below, on ``background``."""
    w, h = size
    image = np.zeros((h, w, 3), np.uint8)
    image[:] = background
    x1, y1, x2, y2 = (int(v * s) for v, s in zip(box, (w, h, w, h), strict=True))
    waist = (y1 + y2) // 2
    image[y1:waist, x1:x2] = upper
    image[waist:y2, x1:x2] = lower
    return image, box


@pytest.mark.parametrize("name", [n for n in colors.PALETTE if n not in ("grey",)])
def test_each_palette_colour_is_named(name):
    image, box = scene(RGB[name], RGB["grey"], background=(60, 160, 60) if name != "green" else (120, 122, 118))
    assert colors.describe(image, box, "person").upper == name


def test_a_person_has_upper_and_lower_colours_and_faint_denim_is_blue():
    image, box = scene(RGB["red"], RGB["denim"])
    named = colors.describe(image, box, "person")
    assert (named.upper, named.lower, named.body) == ("red", "blue", None)
    assert named.as_dict() == {"upper_color": "red", "lower_color": "blue"}


def test_a_vehicle_has_a_body_colour_and_other_labels_none():
    image, box = scene(RGB["white"], RGB["white"], box=(0.2, 0.4, 0.8, 0.8))
    assert colors.describe(image, box, "car").as_dict() == {"color": "white"}
    assert colors.describe(image, box, "dog").as_dict() == {}


def test_the_background_inside_the_box_is_not_the_objects_colour():
    """A thin person: most of its inner box is the green lawn behind it, which the ring around it shows."""
    lawn = (60, 150, 60)
    image, _ = scene(lawn, lawn, background=lawn)
    x1, y1, x2, y2 = 80, 60, 120, 270
    image[y1:y2, 97:104] = RGB["blue"]  # a narrow figure in the middle of its box
    named = colors.describe(image, (x1 / 200, y1 / 300, x2 / 200, y2 / 300), "person")
    assert named.upper == "blue" and named.lower == "blue"


def test_nothing_is_named_from_too_few_pixels_or_a_box_off_the_picture():
    image, _ = scene(RGB["red"], RGB["blue"])
    assert colors.describe(image, (0.5, 0.5, 0.505, 0.51), "person").as_dict() == {}
    assert colors.describe(image, (1.2, 1.2, 1.5, 1.6), "person").as_dict() == {}


def test_a_large_box_is_sampled_with_the_same_answer():
    image, box = scene(RGB["orange"], RGB["black"], size=(1600, 2400))
    assert colors.describe(image, box, "person").as_dict() == {"upper_color": "orange", "lower_color": "black"}
