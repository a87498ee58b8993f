"""The catalogue's structure (errors name file and line) and meaning (`make lint-responses`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from responses.catalogue import DEFAULT_PATH, CatalogueError, load_catalogue
from responses.checks import lint, lint_experiments, unreachable_pins
from responses.live_catalogue import CatalogueFile

GOOD = DEFAULT_PATH.read_text()
ROOT = DEFAULT_PATH.parent.parent


def write(tmp_path, text, name="catalogue.yml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def problems(tmp_path, text):
    return lint(load_catalogue(write(tmp_path, text)))


def test_the_shipped_catalogue_is_clean():
    assert lint(load_catalogue()) == []
    assert lint_experiments(load_catalogue(), ROOT / "experiments" / "experiments.yml") == []


@pytest.mark.parametrize(
    "old, new, expected",
    [
        # an intent without a default
        (
            "      - id: deals.default\n        sections:",
            "      - id: deals.default\n        when: {channel: web}\n        sections:",
            "response 'deals' has no default",
        ),
        # conditions that can never match
        ("when: {time_of_day: night}", "when: {time_of_day: brunch}", "'brunch' never occurs"),
        ("when: {time_of_day: night}", "when: {weather: rainy}", "unknown cue 'weather'"),
        ("when: {time_of_day: night}", "when: {region: Germany}", "'Germany' never occurs"),
        ("when: {time_of_day: night}", "when: {time_of_day: []}", "lists no values"),
        ('when: {region: [CH, GB, "NO", US]}', "when: {region: [NO]}", "'False' never occurs"),
        ("when: {has_deals: false}", "when: {has_deals: sometimes}", "never occurs"),
        # an unknown trait level, an unknown trait, an unknown segment state
        (
            "when: {price_sensitivity: high}",
            "when: {price_sensitivity: extreme}",
            "price_sensitivity value 'extreme' never occurs (expected low, mid, high)",
        ),
        ("when: {tech_depth: high}", "when: {charisma: high}", "unknown cue 'charisma'"),
        (
            "id: ask_category.unplaced\n        when: {segment: unplaced}",
            "id: ask_category.unplaced\n        when: {segment: lost}",
            "segment value 'lost' never occurs",
        ),
        ("when: {price_sensitivity: high}", "when: {price_band: luxury}", "'luxury' never occurs"),
        (
            "personas: [bargain_hunter]",
            "personas: [bargain_hunter, wizard]",
            "unknown persona 'wizard'",
        ),
        # a tie without an explicit order
        (
            '        order: 3\n        text: "Which kind of device',
            '        order: 2\n        text: "Which kind of device',
            "and 'ask_category.compare' of 'ask_category' tie for the same turns",
        ),
        # same conditions, one loses on order: it can never match
        (
            "when: {time_of_day: night}\n        order: 5",
            "when: {time_of_day: [morning, afternoon, evening]}\n        order: 5",
            "'greet.default.timed' can never match",
        ),
        # undefined variables, unknown building blocks
        ("Popular {category}:", "Popular {categroy}:", "undefined variable {categroy}"),
        (
            'text: "Hi! I\'m the {shop} shop assistant. {hook}"',
            'text: "{product}: Hi! I\'m the {shop} shop assistant. {hook}"',
            "undefined variable {product}",
        ),
        ("{lead} {category} for you:", "{leed} {category} for you:", "undefined variable {leed}"),
        ("pick: top_rated", "pick: cheapest_first", "unknown pick 'cheapest_first'"),
        (", pick: for_you, facts", ", pick: for_me, facts", "unknown pick 'for_me'"),
        (
            "facts: [highlight, ease, price], limit: 3}",
            "facts: [highlight, colour], limit: 3}",
            "unknown fact 'colour'",
        ),
        ("facts: [highlight, for_you]", "facts: [highlight, for_me]", "unknown fact 'for_me'"),
        # a personalized response that does not vary with traits
        (
            '"Which model would you like the specs of? For example {examples}."',
            '"Which model would you like the specs of?"',
            "response 'ask_product' does not vary with traits",
        ),
        # a response that must not be personalized, but is
        (
            'text: "Thanks, that helps me get better."',
            'text: "Thanks, that helps me get better. Want {usual} next?"',
            "response 'feedback_reason_thanks' is not personalized but variant "
            "'feedback_reason_thanks.default' uses {usual}",
        ),
        (
            "      - id: feedback_reason_thanks.default\n",
            "      - id: feedback_reason_thanks.deals\n        when: {price_sensitivity: high}\n"
            '        text: "Thanks, that helps me find better deals."\n'
            "      - id: feedback_reason_thanks.default\n",
            "variant 'feedback_reason_thanks.deals' has personas or shopper conditions",
        ),
    ],
    ids=lambda value: value[:30] if isinstance(value, str) else "",
)
def test_lint_finds_each_kind_of_mistake(tmp_path, old, new, expected):
    assert old in GOOD, old
    found = problems(tmp_path, GOOD.replace(old, new, 1))
    assert any(expected in p for p in found), found
    assert all(p.startswith(str(tmp_path)) for p in found)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("responses: [", "line 1: invalid YAML"),
        ("other: 1", "expected a top-level 'responses:' mapping"),
        ("responses:\n  greet: {}\n", "line 2: response 'greet' needs a 'variants' list"),
        ("responses:\n  gret:\n    variants: []\n", "unknown response 'gret'"),
        (GOOD.replace("text: \"Hi! I'm the {shop}", "text: \"Hi! I'm the {shop", 1), "stray '{'"),
        (
            GOOD.replace("      - id: greet.default.timed\n", "      - id: greet.default\n"),
            "duplicate variant id 'greet.default'",
        ),
        (GOOD.replace("limit: 3}", "limit: lots}", 1), "'limit' must be a whole number"),
        (
            GOOD.replace("  offer_deals:\n", "  offer_deals_x:\n"),
            "unknown response 'offer_deals_x'",
        ),
        (
            GOOD.replace(
                "when: {time_of_day: night}\n        order: 5\n",
                "when: {time_of_day: night}\n        order: first\n",
            ),
            "'order' must be a number",
        ),
        # a response that is not personalized must say why
        (
            GOOD.replace('    why: "a privacy answer: the same plain words for everyone"\n', ""),
            "response 'consent_granted' is not personalized: say why in a 'why:' line",
        ),
        (
            GOOD.replace("    personalized: false\n", "    personalized: no way\n", 1),
            "true or false",
        ),
    ],
    ids=lambda value: value[-30:] if isinstance(value, str) else "",
)
def test_malformed_catalogue_names_file_and_line(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(CatalogueError) as err:
        load_catalogue(path)
    assert str(path) in str(err.value) and expected in str(err.value)


def test_experiment_arms_must_exist_in_the_response(tmp_path):
    experiments = write(
        tmp_path,
        "experiments:\n  - key: x\n    response: recommend\n    variants: {base: 0.5, story: 0.5}\n"
        "    personas: [bargain_hunter]\n    conversion: {feedback: positive}\n",
        "experiments.yml",
    )
    found = lint_experiments(load_catalogue(), experiments)
    assert found and "has no arm 'story'" in found[0] and "'recommend.default'" in found[0]
    assert "the bargain_hunter wording of recommend" in found[0]


def test_pins_no_published_segment_has_are_warnings_not_errors():
    from core.traits import PRESETS

    catalogue = load_catalogue()
    warnings = unreachable_pins(catalogue, [PRESETS["bargain_hunter"]])
    assert any("'ask_category.compare' pins traits" in w for w in warnings)  # tech_depth: high
    assert not any("'ask_category.savings'" in w for w in warnings)  # price_sensitivity: high
    assert not any("'recommend.bargain_hunter.no_deals'" in w for w in warnings)
    assert all(w.startswith(f"{catalogue.path}, line ") for w in warnings)
    assert unreachable_pins(catalogue, list(PRESETS.values())) == []
    assert lint(catalogue) == []


def test_lint_cli_exit_codes(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ok = subprocess.run(
        [sys.executable, "-m", "responses.lint"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert ok.returncode == 0, ok.stderr
    assert "responses ok" in ok.stdout
    broken = write(tmp_path, GOOD.replace("Popular {category}:", "Popular {nope}:"))
    bad = subprocess.run(
        [sys.executable, "-m", "responses.lint", str(broken)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert bad.returncode == 1 and "Error:" in bad.stderr and "{nope}" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_wording_changes_are_picked_up_without_restart_and_broken_edits_are_refused(tmp_path):
    from core.products import load_products
    from responses.cues import Cues
    from responses.engine import ResponseEngine

    path = write(tmp_path, GOOD)
    source = CatalogueFile(path, check_every_s=0)
    engine = ResponseEngine(source, load_products())
    before = engine.render("greet", Cues()).text

    write(tmp_path, GOOD.replace("What are you curious about?", "What brings you in today?"))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    after = engine.render("greet", Cues()).text
    assert before.endswith("What are you curious about?")
    assert after == before.replace("What are you curious about?", "What brings you in today?")

    write(tmp_path, GOOD.replace("Popular {category}:", "Popular {oops}:"))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 2 * 10**9))
    assert engine.render("greet", Cues()).text == after  # lint error: last good catalogue kept


def test_a_broken_catalogue_is_fatal_at_start_up(tmp_path):
    path = write(tmp_path, GOOD.replace("Popular {category}:", "Popular {oops}:"))
    with pytest.raises(CatalogueError, match="undefined variable"):
        CatalogueFile(path)
