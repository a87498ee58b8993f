"""rasa_ext's speed-ups give exactly Rasa's answers: validation verdicts and event classes."""

from __future__ import annotations

import jsonschema
import pytest
import rasa.shared.core.events as events_module
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from core.settings import Settings
from rasa_ext import event_types, speedups, validation

SPEC = RemoteAction.action_response_format_spec()
CONVERSATION = [
    ActionExecuted("action_session_start", timestamp=1.0),
    SessionStarted(timestamp=1.1),
    SlotSet("segment", "bargain_hunter", timestamp=1.2),
    ActionExecuted("action_listen", timestamp=1.3),
    UserUttered("hi", {"name": "greet", "confidence": 0.9}, timestamp=2.0),
    BotUttered("Hello!", {"buttons": []}, timestamp=2.1),
]

VALID = [
    {},
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "segment", "value": "bargain_hunter"}]},
    {"events": [{"event": "slot", "name": "x", "value": None, "timestamp": None}]},
    {"events": [{"event": "followup", "name": "action_x"}, {"event": "reset_slots"}]},
    {"responses": [{"text": "hi", "buttons": [{"title": "a", "payload": "/b"}]}]},
]
INVALID = [
    [],
    "events",
    {"events": {}},
    {"events": [{"event": "slot"}]},  # no name, no value
    {"events": [{"name": "segment", "value": 1}]},  # no event type
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"event": "slot", "name": 3, "value": 1}]},
    {"events": [{"event": "bot", "timestamp": "yesterday"}]},
    {"responses": ["hi"]},
    {"responses": {"text": "hi"}},
]


def stock_error(result: object) -> str | None:
    try:
        jsonschema.validate(result, SPEC)
    except jsonschema.ValidationError as e:
        return e.message
    return None


def prepared_error(check, result: object) -> str | None:
    try:
        assert check(None, result) is True
    except jsonschema.ValidationError as e:
        assert e.message.endswith("/custom-actions"), "Rasa's hint is kept"
        return e.message[: -len(validation._HINT)]
    return None


@pytest.fixture(scope="module")
def check():
    return validation.make_validate(SPEC)


@pytest.mark.parametrize("result", VALID + INVALID)
def test_same_verdict_and_message_as_rasa(check, result):
    assert prepared_error(check, result) == stock_error(result)


def test_the_listed_invalid_responses_are_rejected(check):
    assert all(prepared_error(check, r) for r in INVALID)
    assert not any(prepared_error(check, r) for r in VALID)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_event_like = st.fixed_dictionaries(
    {"event": st.sampled_from(["slot", "bot", "user", "action", "followup", "x", 3])},
    optional={"name": _json, "value": _json, "timestamp": _json, "entities": _json},
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        from_schema(SPEC),
        st.fixed_dictionaries({}, optional={"events": st.lists(_event_like, max_size=4)}),
        _json,
    )
)
def test_fuzzed_responses_get_rasas_verdict(check, result):
    assert prepared_error(check, result) == stock_error(result)


def test_install_swaps_the_hook_and_uninstall_restores_it():
    validation.uninstall()
    assert not validation.installed()
    assert validation.install() is True and validation.installed()
    assert validation.install() is True  # idempotent
    validation.uninstall()
    assert RemoteAction._validate_action_result is validation._STOCK


def test_speedups_switch_off_with_the_environment():
    speedups.uninstall()
    stock = Settings.from_env({"PZ_RASA_SPEEDUPS": "0"}).rasa_speedups
    assert speedups.install(stock) == {"validation": False, "event_types": False}
    assert not validation.installed() and not event_types.installed()
    tuned = Settings.from_env({"PZ_RASA_SPEEDUPS": "1"}).rasa_speedups
    assert speedups.install(tuned) == {"validation": True, "event_types": True}
    speedups.uninstall()
    assert not validation.installed() and not event_types.installed()


async def _run_remote_action(answer: dict) -> list:
    """Rasa's own RemoteAction.run against a real (tiny) action server on loopback."""

    async def webhook(request: web.Request) -> web.Response:
        return web.json_response(answer)

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        domain = Domain.from_dict(
            {"slots": {"segment": {"type": "any", "mappings": [{"type": "custom"}]}}}
        )
        action = RemoteAction("action_x", EndpointConfig(f"http://127.0.0.1:{port}/webhook"))
        tracker = DialogueStateTracker.from_events("u", [], domain.slots)
        return await action.run(
            CollectingOutputChannel(), TemplatedNaturalLanguageGenerator({}), tracker, domain
        )
    finally:
        await runner.cleanup()


async def test_rasa_runs_valid_answers_and_rejects_invalid_ones_with_the_hook_installed():
    assert validation.install()
    try:
        events = await _run_remote_action(
            {"events": [{"event": "slot", "name": "segment", "value": "bargain_hunter"}]}
        )
        assert events == [SlotSet("segment", "bargain_hunter")]
        with pytest.raises(jsonschema.ValidationError, match="Failed to validate Action server"):
            await _run_remote_action({"events": [{"event": "slot"}]})
    finally:
        validation.uninstall()


def _all_event_names() -> list[str]:
    from rasa.shared.utils.common import all_subclasses

    return sorted({cls.type_name for cls in all_subclasses(Event)})


def test_event_classes_are_rasas_for_every_name_default_and_error():
    names = _all_event_names()
    assert len(names) > 20
    stock = {name: Event.resolve_by_type(name) for name in names}
    assert event_types.install()
    try:
        for name in names:
            assert Event.resolve_by_type(name) is stock[name], name
        assert Event.resolve_by_type("topic") is None
        assert Event.resolve_by_type("no_such_event", SlotSet) is SlotSet
        with pytest.raises(ValueError, match="Unknown event name 'no_such_event'"):
            Event.resolve_by_type("no_such_event")
    finally:
        event_types.uninstall()
    assert not event_types.installed()


def test_an_event_class_imported_later_is_found():
    assert event_types.install()
    try:
        Event.resolve_by_type("slot")  # fills the table

        class LateEvent(SlotSet):
            type_name = "pz_late_test_event"

        assert Event.resolve_by_type("pz_late_test_event") is LateEvent
    finally:
        event_types.uninstall()


def test_a_stored_conversation_deserializes_to_the_same_events():
    dumped = [e.as_dict() for e in CONVERSATION]
    stock = events_module.deserialise_events(dumped)
    assert event_types.install()
    try:
        assert events_module.deserialise_events(dumped) == stock == CONVERSATION
    finally:
        event_types.uninstall()
