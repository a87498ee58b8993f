"""The same question gets a visibly different, useful answer per trait profile and shopper
(catalogue + composition + engine); the personas are presets of those traits."""

from __future__ import annotations

import pytest

from core.personas import PERSONAS
from core.products import ProductCatalogue, load_products
from core.shopper import ShopperFacts
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
    title, first = text.splitlines()[:2]
    cheapest_deal = min(
        (p for p in CAT.in_category("headphones") if p.on_deal), key=lambda p: p.deal_price
    )
    assert title == "Best-value headphones for you:"  # leads with value...
    assert first.startswith(f"• {cheapest_deal.name}: {euros(cheapest_deal.deal_price)}, save")
    # ...and says why it was chosen
    assert text.splitlines()[-1].startswith(
        "Picked for shoppers who above all look for a good deal"
    )


def test_enthusiast_gets_specs_before_price():
    text = render_listing(RECOMMEND, "tech_enthusiast", CAT, "laptops")
    assert text.startswith("The most capable laptops for you:")
    line = text.splitlines()[1]
    product = CAT.find(line[2:].split(":")[0])
    first_spec = next(iter(product.specs))
    assert line.index(first_spec) < line.index("€")


def test_casual_browser_gets_ease_of_use_first_and_a_short_list():
    text = render_listing(RECOMMEND, "casual_browser", CAT, "tablets")
    line = text.splitlines()[1]
    product = CAT.find(line[2:].split(":")[0])
    assert text.startswith("Easy-going tablets for you:")
    assert line.startswith(f"• {product.name}: {product.ease_of_use.rstrip('.')}")
    assert product.ease_score == max(p.ease_score for p in CAT.in_category("tablets"))
    # Simplicity wants fewer; deep technical interest reads more.
    enthusiast = render_listing(RECOMMEND, "tech_enthusiast", CAT, "tablets")
    assert text.count("•") == 2 < enthusiast.count("•")


def test_frequent_buyer_hears_trusted_favourites_and_what_is_new():
    text = render_listing(RECOMMEND, "frequent_buyer", CAT, "smartphones")
    lines = text.splitlines()
    assert lines[0] == "Our most loved smartphones for you:"  # loyalty leads, novelty next
    items = [line for line in lines if line.startswith("•")]
    assert items and all("rated " in line and "released " in line for line in items)
    for product in CAT.new_arrivals("smartphones")[:2]:
        assert product.name in text
    assert "trusted favourites" in lines[-1] and "new arrivals" in lines[-1]


def test_new_visitor_gets_a_gentle_introduction():
    text = render_listing(RECOMMEND, "new_visitor", CAT, "laptops")
    assert text.startswith("Easy-going laptops for you:")
    assert text.count("•") == 2  # not overwhelmed
    for line in text.splitlines()[1:3]:
        product = CAT.find(line[2:].split(":")[0])
        assert product.ease_of_use.rstrip(".") in line
    assert "New here? Ask me to explain any of them." in text


def test_an_unplaced_shopper_gets_the_no_segment_yet_answer():
    text = render_listing(RECOMMEND, "default", CAT, "laptops")
    lines = text.splitlines()
    assert lines[:2] == ["Here's where most people start.", "Popular laptops:"]
    assert lines[-1].startswith("Ask me for today's deals, the specs of a model")
    assert "for you" not in text  # nothing about them is known yet


def test_shoppers_of_one_segment_differ_by_their_own_price_band():
    budget = render_listing(RECOMMEND, "tech_enthusiast", CAT, "smartphones", price_band="budget")
    premium = render_listing(RECOMMEND, "tech_enthusiast", CAT, "smartphones", price_band="premium")
    assert budget != premium
    assert "in your usual budget price range" in budget
    assert "in your usual premium price range" in premium
    first = [CAT.find(t.splitlines()[1][2:].split(":")[0]) for t in (budget, premium)]
    assert first[0].deal_price < first[1].deal_price


def test_a_recent_purchase_gets_a_companion_not_the_same_again():
    text = render_listing(
        RECOMMEND,
        "bargain_hunter",
        CAT,
        "headphones",
        companion="headphones",
        last_order="laptops",
    )
    assert "to go with your laptop" in text.splitlines()[-1]
    greet = ENGINE.render(
        "greet", Cues(persona="bargain_hunter", companion="headphones", last_order="laptops")
    ).text
    assert "Need something to go with your new laptop?" in greet


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
    greet = ENGINE.render("greet", Cues(persona="bargain_hunter", time_of_day=morning)).text
    night = ENGINE.render("greet", Cues(persona="bargain_hunter", time_of_day=evening)).text
    plain = ENGINE.render("greet", Cues(persona="bargain_hunter")).text
    assert greet.startswith("Good morning! I'm the Voltmart shop assistant.")
    assert night.startswith("Hi, night owl!")
    deals = len(CAT.deals(None))  # no category asked about yet: deals across the shop
    assert plain == f"Hi! I'm the Voltmart shop assistant. There are {deals} deals today."


def test_the_no_segment_yet_wording_beats_a_generic_time_of_day_variant():
    unplaced = ENGINE.render("greet", Cues(persona="default", time_of_day="evening")).text
    placed = ENGINE.render("greet", Cues(persona="new_visitor", time_of_day="evening")).text
    assert unplaced.startswith("Good evening and welcome to Voltmart!")
    assert "What are you curious about?" in unplaced
    assert placed.startswith("Good evening! I'm the Voltmart shop assistant.")


def test_just_bought_and_same_category_again_are_recent_behaviour():
    from responses.cues import recent_behaviour

    now = 1_000_000.0
    assert recent_behaviour(now - 3600, None, (), now) == {"just_bought"}
    assert recent_behaviour(now - 3 * 86400, None, (), now) == frozenset()
    assert recent_behaviour(None, "laptops", (None, "laptops"), now) == {"same_category_again"}
    # The shopper's own last order (CRM or gateway purchases): recent, or long ago.
    ordered = ShopperFacts(last_order_at=now - 5 * 86400)
    away = ShopperFacts(last_order_at=now - 200 * 86400)
    assert recent_behaviour(None, None, (), now, ordered) == {"recent_order"}
    assert recent_behaviour(None, None, (), now, away) == {"long_absence"}
    thanks = render_listing(
        RECOMMEND, "frequent_buyer", CAT, "laptops", recent=frozenset({"just_bought"})
    )
    again = render_listing(
        RECOMMEND, "tech_enthusiast", CAT, "laptops", recent=frozenset({"same_category_again"})
    )
    assert thanks.startswith("Thanks for your recent order!\nOur most loved laptops for you:")
    assert again.startswith("Back to laptops? The most capable ones for you:")
    welcome = ENGINE.render(
        "greet", Cues(persona="bargain_hunter", recent=frozenset({"long_absence"}))
    ).text
    assert welcome.startswith("Welcome back, it's been a while!")


def test_catalogue_facts_pick_the_variant_when_a_category_has_no_deals():
    no_deals = ProductCatalogue(p for p in CAT.products if not p.on_deal)
    text = render_listing(RECOMMEND, "bargain_hunter", no_deals, "laptops")
    assert text.startswith("No discounts on laptops today; the best value at full price:")


def test_arms_change_the_wording_and_quote_catalogue_facts():
    base = render_listing(RECOMMEND, "bargain_hunter", CAT, "smartphones")
    savings = render_listing(RECOMMEND, "bargain_hunter", CAT, "smartphones", arm="savings")
    best = max(p.discount_pct for p in CAT.deals("smartphones"))
    assert savings == f"Up to {best}% off smartphones today.\n" + base
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
    outside = ENGINE.render("offer_deals", Cues(persona="bargain_hunter", region="GB")).text
    inside = ENGINE.render("offer_deals", Cues(persona="bargain_hunter", region="DE")).text
    slack = ENGINE.render("greet", Cues(persona="bargain_hunter", channel="slack")).text
    web = ENGINE.render("greet", Cues(persona="bargain_hunter", channel="web")).text
    assert outside == (
        "Want the full list of discounts in this category? "
        "Prices are in euros; import duties may apply where you are."
    )
    assert inside == "Want the full list of discounts in this category?"
    assert slack.startswith("Hi! I'm the *Voltmart* shop assistant.")  # Slack bold
    assert "Ask me about today's deals, or anything else" in slack
    assert web.startswith("Hi! I'm the Voltmart shop assistant. There are ")


def test_small_talk_points_to_what_this_shopper_usually_asks_about():
    def say(key, persona, **cues):
        return ENGINE.render(key, Cues(persona=persona, favourite="laptops", **cues)).text

    for key in ("thanks", "goodbye", "help", "out_of_scope", "feedback_thanks"):
        deals, specs = say(key, "bargain_hunter"), say(key, "tech_enthusiast")
        unplaced = say(key, "default")
        assert "today's deals on laptops" in deals, key
        assert "the specs of our laptops" in specs, key
        assert "laptops" not in unplaced, key  # no segment yet: nothing assumed
    assert say("goodbye", "bargain_hunter", time_of_day="night").startswith("Good night")


def test_privacy_answers_are_the_same_for_everyone():
    for key in ("consent_question", "consent_granted", "consent_denied", "privacy_unavailable"):
        texts = {
            ENGINE.render(key, Cues(persona=p, price_band="premium", favourite="laptops")).text
            for p in PERSONAS
        }
        assert len(texts) == 1, key
    gone = ENGINE.render("forgotten", Cues(persona="tech_enthusiast"), summary="profile").text
    assert gone == "Done: I erased everything I had stored about you (profile). Goodbye for now!"
