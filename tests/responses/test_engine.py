"""The same question gets a visibly different, useful answer per persona (catalogue + engine)."""

from __future__ import annotations

import pytest

from core.personas import PERSONAS
from core.products import ProductCatalogue, load_products
from responses.catalogue import load_catalogue
from responses.cues import Cues
from responses.engine import ResponseEngine
from responses.listing import euros

CAT = load_products()
ENGINE = ResponseEngine(load_catalogue(), CAT)
RECOMMEND, DEALS, NEW_ARRIVALS = "recommend", "deals", "new_arrivals"


def render_listing(key, persona, catalogue, category, arm="base", **cues):
    engine = ENGINE if catalogue is CAT else ResponseEngine(ENGINE.catalogue, catalogue)
    return engine.render(
        key, engine.cues_with_facts(Cues(persona=persona, **cues), category), arm=arm
    ).text


def render_specs(persona, product, **cues):
    return ENGINE.render("specs", Cues(persona=persona, **cues), product=product).text


LISTINGS = [
    (intent, category)
    for intent in (RECOMMEND, DEALS, NEW_ARRIVALS)
    for category in (None, "smartphones", "smart_home")
    if not (intent == RECOMMEND and category is None)  # recommendations always have a category
]


@pytest.mark.parametrize("intent, category", LISTINGS)
def test_every_persona_answers_differently(intent, category):
    answers = {p: render_listing(intent, p, CAT, category) for p in PERSONAS}
    assert len(set(answers.values())) == len(PERSONAS), answers
    assert all(a.strip() for a in answers.values())


def test_bargain_hunter_sees_the_cheapest_deal_first():
    text = render_listing(RECOMMEND, "bargain_hunter", CAT, "headphones")
    first = text.splitlines()[1]
    cheapest_deal = min(
        (p for p in CAT.in_category("headphones") if p.on_deal), key=lambda p: p.deal_price
    )
    assert first.startswith(f"• {cheapest_deal.name}: {euros(cheapest_deal.deal_price)}, save")


def test_enthusiast_gets_specs_before_price():
    line = render_listing(RECOMMEND, "tech_enthusiast", CAT, "laptops").splitlines()[1]
    product = CAT.find(line[2:].split(":")[0])
    first_spec = next(iter(product.specs))
    assert line.index(first_spec) < line.index("€")


def test_casual_browser_gets_ease_of_use_first():
    line = render_listing(RECOMMEND, "casual_browser", CAT, "tablets").splitlines()[1]
    product = CAT.find(line[2:].split(":")[0])
    assert line.startswith(f"• {product.name}: {product.ease_of_use.rstrip('.')}")
    assert product.ease_score == max(p.ease_score for p in CAT.in_category("tablets"))


def test_frequent_buyer_hears_new_arrivals_then_deals():
    text = render_listing(RECOMMEND, "frequent_buyer", CAT, "smartphones")
    assert text.index("New in smartphones") < text.index("Today's deals on smartphones")
    for product in CAT.new_arrivals("smartphones")[:2]:
        assert product.name in text


def test_new_visitor_gets_a_gentle_introduction():
    text = render_listing(RECOMMEND, "new_visitor", CAT, "laptops")
    assert text.startswith("Welcome!")
    assert text.count("•") == 2  # not overwhelmed
    assert "whenever you like" in text


def test_unknown_persona_renders_as_default():
    assert render_listing(DEALS, "mystery", CAT, None) == render_listing(
        DEALS, "default", CAT, None
    )


def test_new_arrivals_are_the_newest_releases():
    newest = max(p.release_date for p in CAT.products)
    for p in CAT.new_arrivals():
        assert (newest - p.release_date).days <= 120


def test_specs_for_the_enthusiast_list_every_spec():
    product = CAT.find("nova x12")
    text = render_specs("tech_enthusiast", product)
    assert all(f"{k}: {v}" in text for k, v in product.specs.items())


def test_empty_deals_section_says_so():
    no_deals = ProductCatalogue(p for p in CAT.products if not p.on_deal)
    assert (
        render_listing(DEALS, "bargain_hunter", no_deals, "laptops")
        == "There are no discounts on laptops today."
    )


# --- contextual cues ---------------------------------------------------------------

BERLIN_9AM = 1_780_000_000 - (1_780_000_000 % 86400) + 7 * 3600  # 07:00 UTC = 09:00 CEST


def test_time_of_day_in_the_users_timezone_shapes_the_greeting():
    from responses.cues import time_of_day

    morning = time_of_day("Europe/Berlin", BERLIN_9AM)
    evening = time_of_day("America/Los_Angeles", BERLIN_9AM)  # 00:00 in LA: night
    assert (morning, evening) == ("morning", "night")
    assert time_of_day("Not/AZone", BERLIN_9AM) is None and time_of_day(None, 0) is None
    greet = ENGINE.render("greet", Cues(persona="default", time_of_day=morning)).text
    night = ENGINE.render("greet", Cues(persona="default", time_of_day=evening)).text
    plain = ENGINE.render("greet", Cues(persona="default")).text
    assert greet.startswith("Good morning!") and night.startswith("Hi, night owl!")
    assert plain == "Hi! I'm the Voltmart shop assistant. How can I help you today?"


def test_persona_wording_beats_a_generic_time_of_day_variant():
    text = ENGINE.render("greet", Cues(persona="new_visitor", time_of_day="evening")).text
    assert text.startswith("Good evening and welcome to Voltmart!")


def test_just_bought_and_same_category_again_are_recent_behaviour():
    from responses.cues import recent_behaviour

    now = 1_000_000.0
    assert recent_behaviour(now - 3600, None, (), now) == {"just_bought"}
    assert recent_behaviour(now - 3 * 86400, None, (), now) == frozenset()
    assert recent_behaviour(None, "laptops", (None, "laptops"), now) == {"same_category_again"}
    thanks = render_listing(
        RECOMMEND, "frequent_buyer", CAT, "laptops", recent=frozenset({"just_bought"})
    )
    again = render_listing(
        RECOMMEND, "default", CAT, "laptops", recent=frozenset({"same_category_again"})
    )
    assert thanks.startswith("Thanks for your recent order!")
    assert again.startswith("Back to laptops? The most popular ones:")


def test_catalogue_facts_pick_the_variant_when_a_category_has_no_deals():
    no_deals = ProductCatalogue(p for p in CAT.products if not p.on_deal)
    text = render_listing(RECOMMEND, "bargain_hunter", no_deals, "laptops")
    assert text.startswith("No discounts on laptops today; the best value at full price:")


def test_arms_change_the_wording_and_quote_catalogue_facts():
    base = render_listing(RECOMMEND, "bargain_hunter", CAT, "smartphones")
    savings = render_listing(RECOMMEND, "bargain_hunter", CAT, "smartphones", arm="savings")
    best = max(p.price - p.deal_price for p in CAT.deals("smartphones"))
    assert savings == f"You could save up to {euros(best)} on smartphones today.\n" + base
    assert render_listing(RECOMMEND, "bargain_hunter", CAT, "smartphones", arm="nope") == base


def test_slack_gets_bold_and_escaped_values_web_gets_plain_text():
    from responses.template import PLAIN, SLACK, parse

    template = parse("**Deals** for {name}")
    hostile = "<!channel> *everyone* & {shop} <script>"
    slack = template.render({"name": hostile}, SLACK)
    web = template.render({"name": hostile}, PLAIN)
    assert slack.startswith("*Deals* for ")
    assert "<!channel>" not in slack and "&lt;!channel&gt;" in slack and "*everyone*" not in slack
    assert web == "Deals for " + hostile  # the web chat shows text with textContent
    assert "{shop}" in web  # inserted once, never evaluated again


def test_user_text_cannot_execute_template_code():
    typed = "{examples} {{7*7}} {shop.__class__} **x"
    text = ENGINE.render("unknown_product", Cues(), typed=typed).text
    assert f'"{typed}"' in text


@pytest.mark.parametrize(
    "source, message",
    [
        ("price {", "stray '{'"),
        ("{Name}", "stray '{'"),
        ("{a.b}", "stray '{'"),
        ("**half", "unbalanced **"),
        ("a }", "stray '}'"),
    ],
)
def test_template_syntax_errors_say_where(source, message):
    from responses.template import TemplateError, parse

    with pytest.raises(TemplateError, match=message.replace("*", r"\*")):
        parse(source)


def test_literal_braces_and_variables():
    from responses.template import parse

    template = parse("{{literal}} {x}")
    assert template.variables == {"x"} and template.render({"x": 1}) == "{literal} 1"


def test_region_and_channel_pick_their_variants():
    outside = ENGINE.render("offer_deals", Cues(persona="default", region="GB")).text
    inside = ENGINE.render("offer_deals", Cues(persona="default", region="DE")).text
    slack = ENGINE.render("greet", Cues(persona="default", channel="slack")).text
    web = ENGINE.render("greet", Cues(persona="default", channel="web")).text
    assert outside.endswith("import duties may apply where you are.")
    assert inside == "Would you like to see the current deals as well?"
    assert slack.startswith("Hi! I'm the *Voltmart* shop assistant.")  # Slack bold
    assert web == "Hi! I'm the Voltmart shop assistant. How can I help you today?"
