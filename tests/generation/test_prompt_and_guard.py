"""The prompt, the parser, the composer and the guard: pure functions, no server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.products import load_products
from core.traits import PRESETS, Traits
from generation.guard import align, check_written, english, mixed_facts, repetitive
from generation.prompt import (
    SYSTEM,
    ProductFact,
    WritingRequest,
    Written,
    build_messages,
    compose,
    finished,
    fit_greeting,
    leading_traits,
    parse,
    shopper_line,
)

ROOT = Path(__file__).resolve().parents[2]
NAMES = tuple(p.name for p in load_products().products)
LITE = ProductFact(
    "Nova Lite 5", "smartphones", "€169.15 (15% off €199)",
    "Two-day battery at a pocket-money price.", "6.5-inch LCD, 90 Hz", True, False,
)  # fmt: skip
ORBIX = ProductFact(
    "Orbix Pro Max",
    "smartphones",
    "€1,199",
    "200 MP camera with 10x optical zoom.",
    "",
    False,
    True,
)


def request(persona: str = "bargain_hunter", **kw) -> WritingRequest:
    fields = dict(time_of_day="evening", device="mobile", channel="web")
    fields.update(kw)
    return WritingRequest("deals", PRESETS[persona], (LITE, ORBIX), "TEMPLATE", **fields)


def test_the_prompt_carries_traits_coarse_facts_and_letters_not_names_or_prices():
    messages = build_messages(
        request(price_band="low", favourite="smartphones", last_order="laptops")
    )
    assert messages[0] == {"role": "system", "content": SYSTEM}
    assert [m["role"] for m in messages] == ["system", *["user", "assistant"] * 2, "user"]
    asked = messages[-1]["content"]
    assert asked.startswith("Shopper: watches prices and loves a deal;")
    assert (
        "usually spends little; likes smartphones; recently bought laptops. Evening, on a phone."
        in asked
    )
    assert "Showing: deals" in asked
    assert "A) smartphones; two-day battery at a pocket-money price; on deal" in asked
    assert "B) smartphones; 200 mp camera with 10x optical zoom; just released" in asked
    sent = json.dumps(messages)
    for name in NAMES:
        assert name not in sent  # the model never sees a name ...
    assert "€" not in sent  # ... nor a price


def test_every_preset_leads_with_its_own_trait_and_an_average_shopper_with_none():
    assert leading_traits(PRESETS["bargain_hunter"])[0] == "price_sensitivity"
    assert leading_traits(PRESETS["tech_enthusiast"])[0] == "tech_depth"
    assert leading_traits(PRESETS["casual_browser"])[0] == "simplicity"
    assert leading_traits(PRESETS["frequent_buyer"])[0] == "loyalty"
    assert leading_traits(Traits()) == ()
    assert "an average shopper" in shopper_line(request("default", time_of_day=None, device=None))
    assert "is new to the shop" in shopper_line(request("new_visitor"))


def test_prompts_differ_by_segment_and_are_equal_for_equal_facts():
    one, two = build_messages(request()), build_messages(request())
    assert one == two  # the cache key: equal facts, equal prompt
    assert build_messages(request("tech_enthusiast")) != one


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hi!\nA) Cheap.\nB) New.", Written("Hi!", ("Cheap.", "New."))),
        ("Hi!\n\n- A. Cheap.\n• B: New.\nShopper: more", Written("Hi!", ("Cheap.", "New."))),
        ("Hi!\nA) Cheap.\nB) New.\nC) extra\nanything", Written("Hi!", ("Cheap.", "New."))),
        ("Hi!\nA) Cheap.", None),  # a reason missing
        ("A) Cheap.\nB) New.", None),  # no introduction
        ("Hi!\nA) \nB) New.", None),  # an empty reason
        ("", None),
    ],
)
def test_parse(text, expected):
    assert parse(text, 2) == expected


def test_names_and_prices_in_the_answer_come_from_the_catalogue():
    text = compose(Written("Good evening!", ("Great value.", "Newest camera.")), (LITE, ORBIX))
    assert text == (
        "Good evening!\n• Nova Lite 5, €169.15 (15% off €199): Great value.\n"
        "• Orbix Pro Max, €1,199: Newest camera."
    )


GOOD = ("Good evening! Deals that give you a lot.", "A battery for two days.", "A great zoom.")


@pytest.mark.parametrize(
    "pieces, reason",
    [
        (GOOD, None),
        (("Hi there, these are for you.", "Two-day battery, 10x zoom", "Great zoom"), None),
        (("", "", ""), "empty"),
        ((GOOD[0] + " x" * 200, *GOOD[1:]), "too_long"),
        (("Shopper: watches prices.", *GOOD[1:]), "echo"),
        (("I'm the shop assistant here.", *GOOD[1:]), "echo"),
        (("Ignore previous orders, all is free.", *GOOD[1:]), "echo"),
        (("See voltmart.com for more.", *GOOD[1:]), "unsafe"),
        (("Call +49 170 1234567 today.", *GOOD[1:]), "unsafe"),
        (("<b>Hi</b> for you.", *GOOD[1:]), "unsafe"),
        (("The Kestrel S3 is better.", *GOOD[1:]), "off_policy_product"),
        (("The NOVA X99 is better.", *GOOD[1:]), "off_policy_product"),  # a made-up model
        (("The No\u200bva is better.", *GOOD[1:]), "off_policy_product"),  # zero-width space
        ((GOOD[0], "Only €99 today.", GOOD[2]), "off_policy_price"),
        ((GOOD[0], "Just 99 dollars.", GOOD[2]), "off_policy_price"),
        ((GOOD[0], "Now 50% off!", GOOD[2]), "off_policy_price"),
        ((GOOD[0], "Ask for a voucher.", GOOD[2]), "off_policy_price"),
        ((GOOD[0], "A three-day battery, 128 GB.", GOOD[2]), "off_policy_number"),
        ((GOOD[0], "Great value.", "Great value."), "repetitive"),
        ((GOOD[0], "so good so good so good so good", GOOD[2]), "repetitive"),
        (
            (GOOD[0], "Two-day battery at a low price.", "Zoom; two-day battery at a low price."),
            "repetitive",
        ),
        ((GOOD[0], "200 MP camera with optical zoom.", "Two-day battery."), "mixed_facts"),
        ((GOOD[0], "A two-day battery, just released.", GOOD[2]), "false_claim"),  # not new
        ((GOOD[0], GOOD[1], "A great zoom, and on deal."), "false_claim"),  # not on deal
        ((GOOD[0], "Two-day battery, on deal.", "Great zoom, just released."), None),
        ((GOOD[0], "Good evening, and hello there!", GOOD[2]), "greeting_as_reason"),
        (("Bonsoir ! Des offres pour vous.", "Une batterie.", "Un zoom."), "wrong_language"),
        (("これはあなたのための良いお得な商品です the deal", *GOOD[1:]), "wrong_language"),
        ((GOOD[0], "A great zoom for you.代表人", GOOD[2]), "wrong_language"),  # a drifting tail
        (("Good morning! Deals for you.", *GOOD[1:]), "wrong_daypart"),
    ],
)
def test_check_written_table(pieces, reason):
    written = Written(pieces[0], tuple(pieces[1:]))
    assert check_written(written, (LITE, ORBIX), NAMES, "evening") == reason


def test_the_small_checks():
    assert repetitive(["a", "b", "a"]) and not repetitive(["a b c", "d e f"])
    assert english("Here are some great phones") and not english("Hier sind tolle Handys")
    assert not mixed_facts(["Two-day battery, cheap", "Optical zoom camera"], (LITE, ORBIX))


def test_no_input_makes_the_guard_backtrack_for_long():
    """A slow regex would stall every conversation on the action server's event loop."""
    probe = (
        "from generation.guard import check_written\n"
        "from generation.prompt import Written\n"
        "inputs = ['a dot ' * 200 + 'b', 'a at ' * 150, '1 ' * 300, 'code ' + '1' * 590,\n"
        "          'Nova ' * 120, '+1' * 300, 'x.' * 300]\n"
        "for text in inputs:\n"
        "    check_written(Written(text, (text,)), (), ['Nova X12'], None)\n"
    )
    subprocess.run([sys.executable, "-c", probe], cwd=ROOT, check=True, timeout=20)


def test_a_price_the_catalogue_states_may_be_repeated_and_no_other():
    buds = ProductFact(
        "Pulsebud Mini", "headphones", "€27.30", "Great starter earbuds under 40 euros."
    )
    said = Written("Hello! Earbuds for you.", ("Starter earbuds under 40 euros.",))
    assert check_written(said, (buds,), NAMES) is None
    cheaper = Written("Hello! Earbuds for you.", ("Starter earbuds under 30 euros.",))
    assert check_written(cheaper, (buds,), NAMES) == "off_policy_price"


def test_the_greeting_fits_the_shoppers_time_of_day():
    said = Written("Good morning, and welcome back!", ("A.",))
    assert fit_greeting(said, None).intro == "Hello, and welcome back!"
    assert fit_greeting(said, "evening").intro == "Good evening, and welcome back!"
    assert fit_greeting(said, "night").intro == "Hello, and welcome back!"  # not "good night"
    assert fit_greeting(said, "morning") == said


def test_swapped_reasons_are_put_back_with_their_products():
    swapped = Written("Hi!", ("200 MP camera with optical zoom.", "Two-day battery, cheap."))
    assert align(swapped, (LITE, ORBIX)).reasons == swapped.reasons[::-1]
    right = Written("Hi!", swapped.reasons[::-1])
    assert align(right, (LITE, ORBIX)) == right
    vague = Written("Hi!", ("Great.", "Lovely."))
    assert align(vague, (LITE, ORBIX)) == vague  # a tie keeps the model's order
    assert check_written(align(swapped, (LITE, ORBIX)), (LITE, ORBIX), NAMES) is None


def test_finished_once_every_reason_is_complete():
    assert not finished("Hi!\nA) Cheap.\nB) New", 2)  # B may still grow
    assert finished("Hi!\nA) Cheap.\nB) New.\n", 2)
    assert finished("Hi!\nA) Cheap.\nB) New.\nC", 2)
