"""The generator against a scripted HTTP server (tests/generation/openai_stub.py): every way a
server can fail, on demand. The real model runs in test_real_model.py."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from core.products import load_products
from core.settings import Settings
from core.traits import PRESETS
from generation.client import Generator
from generation.config import GeneratorConfig, GeneratorConfigError, load_generator_config
from generation.prompt import ProductFact, WritingRequest
from tests.generation.openai_stub import OpenAIStub

ROOT = Path(__file__).resolve().parents[2]
NAMES = tuple(p.name for p in load_products().products)
CORPUS = yaml.safe_load((Path(__file__).parent / "injection_corpus.yml").read_text())
TEMPLATE = "Best value smartphones, deals first:\n• Nova X12: €899; Brightest screen in its class"
FACTS = (ProductFact("Nova X12", "smartphones", "€899", "Brightest screen in its class."),)
GOOD = "Good evening! A bright pick for you.\nA) The brightest screen we sell."


def request(channel="web", persona="bargain_hunter") -> WritingRequest:
    return WritingRequest("recommend", PRESETS[persona], FACTS, TEMPLATE, channel, "evening")


@pytest.fixture
async def stub():
    server = await OpenAIStub().start()
    server.reply = GOOD
    yield server
    await server.stop()


@pytest.fixture
async def generator(stub):
    seen: list[str] = []

    async def count(reason: str) -> None:
        seen.append(reason)

    config = GeneratorConfig(stub.url, "stub", "k-1", budgets_ms={"web": 1500, "slack": 300})
    gen = Generator(config, NAMES, on_outcome=count)
    gen.seen = seen
    yield gen
    await gen.close()


async def test_accepted_words_go_around_the_catalogue_facts_and_are_cached(stub, generator):
    first = await generator.write(request())
    second = await generator.write(request())
    assert first.text == (
        "Good evening! A bright pick for you.\n• Nova X12, €899: The brightest screen we sell."
    )
    assert (first.source, first.reason, first.reasons) == (
        "generator",
        "generated",
        ("The brightest screen we sell.",),
    )
    assert (second.text, second.reason) == (first.text, "cached")
    assert len(stub.requests) == 1  # the repeat cost no model time
    assert generator.seen == ["generated", "cached"]
    body = stub.requests[0]
    assert body["model"] == "stub" and body["stop"] and body["max_tokens"] == 100
    await generator.write(request(persona="tech_enthusiast"))  # another segment: asked anew
    assert len(stub.requests) == 2


@pytest.mark.parametrize(
    "mode, reason",
    [
        ("error", "http_error"),
        ("malformed", "malformed"),
        ("no_choices", "malformed"),
        ("empty", "empty"),
    ],
)
async def test_broken_answers_fall_back_to_the_template(stub, generator, mode, reason):
    stub.mode = mode
    result = await generator.write(request())
    assert (result.text, result.source, result.reason) == (TEMPLATE, "template", reason)
    assert generator.outcomes[reason] == 1 and generator.seen == [reason]


@pytest.mark.parametrize(
    "reply, reason",
    [
        ("Good evening! Try this.", "unparseable"),  # no reason for product A
        ("Good evening!\nA) The Veyra Fold is better.", "off_policy_product"),
        ("Good evening!\nA) Only €499 today.", "off_policy_price"),
        ("Good evening!\nA) Its 240 Hz screen.", "off_policy_number"),
        ("Good evening!\nA) Ask for a voucher.", "off_policy_price"),
    ],
)
async def test_words_the_guard_refuses_fall_back_and_are_counted(stub, generator, reply, reason):
    stub.reply = reply
    result = await generator.write(request())
    second = await generator.write(request())
    assert (result.text, result.reason) == (TEMPLATE, reason)
    assert second.reason == reason and len(stub.requests) == 2  # refused words are not kept


async def test_a_greeting_for_the_wrong_hour_is_put_right(stub, generator):
    stub.reply = "Good morning! A bright pick.\nA) The brightest screen we sell."
    result = await generator.write(request())  # the shopper writes in the evening
    assert result.reason == "generated" and result.text.startswith("Good evening! A bright pick.")


async def test_the_budget_depends_on_the_channel(stub, generator):
    stub.mode, stub.delay = "slow", 0.8
    start = time.perf_counter()
    slack = await generator.write(request(channel="slack"))  # budget 300 ms
    slack_s = time.perf_counter() - start
    web = await generator.write(request(channel="web"))  # budget 1500 ms
    assert (slack.reason, slack.text) == ("timeout", TEMPLATE)
    assert slack_s < 0.75  # gave up at the budget, did not wait for the answer
    assert web.reason == "generated"


async def test_an_unreachable_server_is_a_connection_error():
    generator = Generator(GeneratorConfig("http://127.0.0.1:9/v1", "none"), NAMES)
    result = await generator.write(request())
    assert (result.text, result.reason) == (TEMPLATE, "connection_error")
    await generator.close()


async def test_no_products_no_model_call(stub, generator):
    empty = WritingRequest("deals", PRESETS["bargain_hunter"], (), TEMPLATE)
    assert (await generator.write(empty)).reason == "no_products" and not stub.requests


async def test_the_key_is_sent_and_nothing_personal_is(stub, generator):
    await generator.write(request())
    assert stub.last_headers.get("Authorization") == "Bearer k-1"
    sent = str(stub.requests[0])
    assert "Nova X12" not in sent and "€" not in sent  # letters and words only


async def test_a_gullible_model_changes_nothing(stub, generator):
    stub.mode = "gullible"
    result = await generator.write(request())
    assert (result.text, result.source) == (TEMPLATE, "template")
    assert result.reason in ("too_long", "echo", "off_policy_product", "off_policy_price")


def test_the_shopper_message_has_no_way_into_the_prompt():
    """The injection corpus cannot reach the model: no field of the request holds text
    the shopper wrote (the action builds it from NLU results and the catalogue)."""
    fields = set(WritingRequest.__dataclass_fields__)
    assert fields == {
        "kind", "traits", "facts", "template_text", "channel", "time_of_day", "device",
        "price_band", "favourite", "last_order",
    }  # fmt: skip
    assert len(CORPUS) >= 18


def test_config_loading(tmp_path):
    path = tmp_path / "endpoints.yml"
    assert load_generator_config(tmp_path / "missing.yml") is None
    path.write_text("action_endpoint: {url: x}\n")
    assert load_generator_config(path) is None
    path.write_text("generator: {enabled: false, url: http://h/v1, model: m}\n")
    assert load_generator_config(path) is None
    path.write_text(
        "generator: {url: http://h:1/v1/, model: m, api_key_env: MY_KEY, budget_ms: {slack: 500}}\n"
    )
    assert load_generator_config(path, enabled=False, env={"MY_KEY": "k-123"}) is None
    settings = Settings.from_env({"PZ_GENERATOR_ENABLED": "1", "MY_KEY": "k-123"})
    config = load_generator_config(path, settings.generator_enabled, settings.env)
    assert (config.url, config.api_key, config.budget_s("slack"), config.budget_s("web")) == (
        "http://h:1/v1",
        "k-123",
        0.5,
        1.6,
    )
    assert config.budget_s("socketio") == 1.6 and config.cache_size == 512
    for bad, hint in [
        ("generator: [1]", "must be a mapping"),
        ("generator: {enabled: true, url: ftp://x, model: m}", "generator.url"),
        ("generator: {enabled: true, url: http://x/v1}", "generator.model"),
        ("generator: {enabled: true, url: http://x/v1, model: m, budget_ms: {web: 0}}", "budget"),
        ("generator: {enabled: true, url: http://x/v1, model: m, max_tokens: -1}", "max_tokens"),
        ("generator: {enabled: true, url: http://x/v1, model: m, temperature: hot}", "temper"),
    ]:
        path.write_text(bad)
        with pytest.raises(GeneratorConfigError, match=hint) as err:
            load_generator_config(path, enabled=None)
        assert str(path) in str(err.value)


def test_the_shipped_endpoints_keep_the_generator_off():
    assert load_generator_config(ROOT / "endpoints.yml") is None
    shipped = load_generator_config(ROOT / "endpoints.yml", enabled=True)
    assert (shipped.url, shipped.model) == ("http://127.0.0.1:8081/v1", "smollm2-135m")


def test_the_reasons_reach_the_web_cards_and_slack_blocks():
    from responses.blocks import slack_message
    from responses.rich import products_payload

    lite, x12 = (load_products().match(n) for n in ("Nova Lite 5", "Nova X12"))
    payload = products_payload("Good evening!", [lite, x12], ("Great value.",))
    assert payload["products"][0]["note"] == "Great value."
    assert "note" not in payload["products"][1]  # no reason: no note, not an empty one
    blocks = json.dumps(slack_message("Good evening!", (), payload))
    assert "*Nova Lite 5*\\nGreat value." in blocks


async def test_the_warm_up_asks_once_and_counts_nothing(stub, generator):
    assert await generator.warm_up(request())
    assert len(stub.requests) == 1 and generator.outcomes == {} and generator.seen == []
    down = Generator(GeneratorConfig("http://127.0.0.1:9/v1", "none"), NAMES)
    assert not await down.warm_up(request())  # logged; the turns fall back meanwhile
    await down.close()
