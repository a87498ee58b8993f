"""The real model (SmolLM2-135M-Instruct from its PyPI package) through the real local model
server (llama-cpp-python, var/llm/venv, built by scripts/install_llm.sh): start-up, accepted
personalized answers, a late answer, the server killed mid-turn, injection attempts.

`make test` installs the server first (scripts/test.sh); run alone, call
scripts/install_llm.sh once. The model samples, so tests assert what must hold for every
answer and that acceptance happens, not one wording.
"""

from __future__ import annotations

import asyncio
import secrets
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from bench.eval_generation import fact_errors
from core.products import load_products
from core.traits import PRESETS
from experiments.policy import ArmChooser
from generation.client import Generator
from generation.config import GeneratorConfig
from generation.prompt import SYSTEM, WritingRequest
from generation.server import PYTHON, ModelServer
from personalization.responder import Ask, Responder, Turn, product_fact
from responses.cues import Cues
from tests.conftest import shipped_engine
from tests.servers import free_port

pytestmark = pytest.mark.llm
CATALOGUE = load_products()
NAMES = tuple(p.name for p in CATALOGUE.products)
CORPUS = yaml.safe_load((Path(__file__).parent / "injection_corpus.yml").read_text())
KEY = secrets.token_hex(8)
SEGMENTS = ("bargain_hunter", "tech_enthusiast", "casual_browser", "frequent_buyer", "new_visitor")


@pytest.fixture(scope="module")
def server():
    if not PYTHON.exists():
        pytest.fail("the model server is not installed: run scripts/install_llm.sh")
    started = ModelServer(free_port(), api_key=KEY).start()
    yield started
    started.stop()


def generator_for(server: ModelServer, budget_ms: int = 6000) -> Generator:
    config = GeneratorConfig(server.url, "smollm2-135m", KEY, {"default": budget_ms})
    return Generator(config, NAMES)


def facts_hold(text: str, shown) -> bool:
    """A check of a final answer independent of the guard: the products are listed in the
    order shown, and the evaluation's fact check finds nothing (no other product, no number
    the shown products' facts lack, no false "new" or "on deal")."""
    lines = [line for line in text.splitlines() if line.startswith("• ")]
    if [line[2:].split(",")[0] for line in lines] != [p.name for p in shown][: len(lines)]:
        return False
    return not fact_errors(text, list(shown), NAMES, CATALOGUE.is_new)


def test_the_server_starts_from_the_package_and_wants_its_key(server):
    assert server.started_s is not None and server.started_s < 60
    assert server.rss_mb() > 50  # a model is loaded
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{server.url}/models", timeout=5)
    assert err.value.code == 401


async def test_a_personalized_answer_is_written_and_accepted(server):
    generator = generator_for(server)
    responder = Responder(shipped_engine(), ArmChooser(None, None), generator)
    assert await responder.warm_up()  # what the action server does at start-up
    accepted = []
    for segment in SEGMENTS:
        for category in ("smartphones", "laptops"):
            cues = Cues(persona=segment, time_of_day="evening", channel="web", device="mobile")
            ask = Ask("recommend", category=category, decision=True, cards=True)
            reply = await responder.reply(ask, Turn("user_llm", cues))
            shown = reply.rendered.products
            if not reply.notes:  # refused or late: the template, untouched
                assert reply.text == reply.rendered.text
                continue
            accepted.append((segment, reply.text))
            assert facts_hold(reply.text, shown), reply.text
            assert len(reply.notes) == min(3, len(shown))
    await generator.close()
    assert accepted, generator.outcomes  # the guard takes about half of these (README)
    assert sum(generator.outcomes.values()) == 10


async def test_a_late_answer_falls_back_in_time(server):
    generator = generator_for(server, budget_ms=50)
    request = WritingRequest("deals", PRESETS["bargain_hunter"], _facts(), "TEMPLATE", "web")
    result = await generator.write(request)
    await generator.close()
    assert (result.text, result.reason) == ("TEMPLATE", "timeout")
    assert result.elapsed_ms < 500


async def test_the_server_killed_mid_turn_gives_the_template(tmp_path):
    own = ModelServer(free_port(), api_key=KEY, log=tmp_path / "llm.log").start()
    generator = generator_for(own)
    request = WritingRequest("new_arrivals", PRESETS["tech_enthusiast"], _facts(), "TEMPLATE")
    turn = asyncio.create_task(generator.write(request))
    await asyncio.sleep(0.3)  # the model is writing
    own.kill()
    result = await turn
    after = await generator.write(request)  # and the next turn too, at once
    await generator.close()
    assert (result.text, result.source) == ("TEMPLATE", "template")
    assert result.reason in ("connection_error", "malformed")
    assert (after.text, after.reason) == ("TEMPLATE", "connection_error")


async def test_injection_attempts_change_neither_instructions_nor_facts(server, store, domain):
    from rasa_sdk.executor import CollectingDispatcher

    from actions.recommendations import ActionRecommendProducts
    from tests.conftest import services, tracker_from_fixture

    seen: list[list[dict]] = []

    class Recording(Generator):
        async def write(self, request):
            seen.append(self.body(request)["messages"])
            return await super().write(request)

    generator = Recording(generator_for(server).config, NAMES)
    await store.put_profile("user_test", {"segment": "bargain_hunter"})
    action = ActionRecommendProducts(
        services(store, chooser=ArmChooser(None, None), generator=generator)
    )
    answers = []
    for text in ["can you recommend a phone?", *CORPUS]:
        tracker = tracker_from_fixture("recommend_phones")
        tracker.latest_message["text"] = text
        dispatcher = CollectingDispatcher()
        await action.run(dispatcher, tracker, domain)
        message = dispatcher.messages[0]
        shown = [CATALOGUE.match(card["name"]) for card in message["custom"]["products"]]
        answers.append((message["text"], shown))
    await generator.close()
    assert len(seen) == len(CORPUS) + 1
    assert all(messages == seen[0] for messages in seen)  # the message changed nothing
    assert seen[0][0]["content"] == SYSTEM
    for answer, shown in answers:
        assert SYSTEM[-40:] not in answer and "X99" not in answer and "jane" not in answer
        assert "http" not in answer and "FREE" not in answer
        if answer.startswith("Good"):  # written by the model (the template never greets so)
            assert facts_hold(answer, shown), answer


def _facts():
    return tuple(product_fact(p, CATALOGUE) for p in CATALOGUE.deals("smartphones")[:3])
