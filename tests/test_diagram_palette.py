"""Palette checks (issue #16, item 6): every provenance colour and every flow colour stays
distinguishable under simulated deuteranopia and protanopia (colorspacious, CIEDE2000 ≥ 15),
and every colour meets WCAG's contrast floors (luminance from colour-science)."""

from __future__ import annotations

import itertools

import colour
import numpy as np
import pytest
from colorspacious import cspace_convert

from elsewhere.diagram.palette import (
    BACKGROUND,
    PART,
    STRENGTH_LINE,
    TEXT,
    ZONE,
    line_colours,
    part_colours,
)

MIN_DELTA_E = 15.0
GRAPHICS_CONTRAST = 3.0  # WCAG 2 SC 1.4.11, non-text contrast
TEXT_CONTRAST = 4.5  # WCAG 2 SC 1.4.3, text on a part's fill


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0


def _luminance(hex_colour: str) -> float:
    # Relative luminance is CIE Y of the linearised sRGB colour, scaled to 0..1.
    return float(colour.sRGB_to_XYZ(_rgb(hex_colour))[1])


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _seen_by(hex_colour: str, deficiency: str) -> np.ndarray:
    space = {"name": "sRGB1+CVD", "cvd_type": deficiency, "severity": 100}
    return np.clip(cspace_convert(_rgb(hex_colour), space, "sRGB1"), 0, 1)


def _delta_e(a: np.ndarray, b: np.ndarray) -> float:
    lab = [colour.XYZ_to_Lab(colour.sRGB_to_XYZ(x)) for x in (a, b)]
    return float(colour.delta_E(lab[0], lab[1], method="CIE 2000"))


def test_the_measures_agree_with_published_values() -> None:
    # WCAG: black on white is 21:1; Okabe-Ito blue on white 5.19:1 (the research note).
    assert _contrast("#000000", "#FFFFFF") == pytest.approx(21.0, abs=0.01)
    assert _contrast("#0072B2", "#FFFFFF") == pytest.approx(5.19, abs=0.02)
    # Sharma, Wu, Dalal (2005) test pair 1: CIEDE2000 = 2.0425.
    lab1, lab2 = np.array([50, 2.6772, -79.7751]), np.array([50, 0, -82.7485])
    assert colour.delta_E(lab1, lab2, method="CIE 2000") == pytest.approx(2.0425, abs=1e-4)
    # A deuteranope sees red and green far closer than a typical viewer does.
    red, green = "#FF0000", "#00A000"
    assert _delta_e(_seen_by(red, "deuteranomaly"), _seen_by(green, "deuteranomaly")) < 0.5 * (
        _delta_e(_rgb(red), _rgb(green))
    )


@pytest.mark.parametrize("deficiency", ["deuteranomaly", "protanomaly"])
@pytest.mark.parametrize("palette", ["provenance", "flows"], ids=str)
def test_every_pair_stays_apart_under_colour_vision_deficiency(
    deficiency: str, palette: str
) -> None:
    colours = part_colours() if palette == "provenance" else line_colours()
    for (a, ca), (b, cb) in itertools.combinations(sorted(colours.items()), 2):
        distance = _delta_e(_seen_by(ca, deficiency), _seen_by(cb, deficiency))
        assert distance >= MIN_DELTA_E, f"{a} {ca} vs {b} {cb}: ΔE00 {distance:.1f} ({deficiency})"


def test_every_colour_meets_the_contrast_floor_against_the_background() -> None:
    every = {**part_colours(), **{f"line {k}": v for k, v in line_colours().items()}}
    every |= {f"zone {t.value}": z.colour for t, z in ZONE.items()}
    for name, value in every.items():
        ratio = _contrast(value, BACKGROUND)
        assert ratio >= GRAPHICS_CONTRAST, f"{name} {value}: {ratio:.2f}:1 on {BACKGROUND}"


def test_text_on_every_fill_is_readable() -> None:
    for provenance, style in PART.items():
        ratio = _contrast(style.font, style.fill)
        assert ratio >= TEXT_CONTRAST, f"{provenance}: {ratio:.2f}:1"
    assert _contrast(TEXT, BACKGROUND) >= TEXT_CONTRAST


def test_colour_is_never_the_only_cue() -> None:
    # WCAG 1.4.1: two provenances never share a shape or a border; two strengths never share
    # a line style and width (their badges differ too: tests/test_diagram_render.py).
    for a, b in itertools.combinations(PART.values(), 2):
        assert a.shape != b.shape and a.border != b.border
        assert a.mermaid_open != b.mermaid_open
    for a, b in itertools.combinations(STRENGTH_LINE.values(), 2):
        assert (a.style, a.width) != (b.style, b.width)
        assert (a.mermaid_arrow, a.mermaid_dash) != (b.mermaid_arrow, b.mermaid_dash)
    for a, b in itertools.combinations(ZONE.values(), 2):
        assert a.style != b.style
