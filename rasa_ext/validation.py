"""Validate action-server responses with a validator prepared once, not once per call.

Rasa 3.6 checks every action-server response with ``jsonschema.validate``,
which first re-checks the ~30-event schema against the JSON-Schema metaschema:
about 30 ms of CPU per custom action, most of a personalized turn (profile in
bench/results/turn_profile.json). ``install()`` replaces
``RemoteAction._validate_action_result`` with the same check done by a
validator built once from Rasa's own ``action_response_format_spec()``, so a
schema change in a Rasa upgrade is picked up and the validation itself (and its
error message) is unchanged. If an upgrade renames either hook, ``install()``
leaves Rasa alone and says so; ``tests/test_validation.py`` then fails.
"""

from __future__ import annotations

import logging
from typing import Any

from jsonschema import ValidationError, exceptions, validators
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

logger = logging.getLogger(__name__)

_STOCK = RemoteAction.__dict__.get("_validate_action_result")
_HINT = (
    ". Failed to validate Action server response from API, make sure your response "
    "from the Action endpoint is valid. For more information about the format visit "
    f"{DOCS_BASE_URL}/custom-actions"
)


def prepared_validator(schema: dict[str, Any]) -> Any:
    """A validator for ``schema``, checked against its metaschema once."""
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def make_validate(schema: dict[str, Any]):
    """A drop-in for ``RemoteAction._validate_action_result`` using a prepared validator.

    Raises the same error ``jsonschema.validate`` would (its best match), with
    Rasa's hint appended, so logs and callers see no difference.
    """
    validator = prepared_validator(schema)

    def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
        error = exceptions.best_match(validator.iter_errors(result))
        if error is not None:
            error.message += _HINT
            raise error
        return True

    _validate_action_result.prepared = True  # type: ignore[attr-defined]
    return _validate_action_result


def installed() -> bool:
    hook = RemoteAction.__dict__.get("_validate_action_result")
    return bool(getattr(hook, "prepared", False))


def install() -> bool:
    """Swap in the prepared validator (idempotent); False, with the reason logged, if not."""
    if installed():
        return True
    spec = getattr(RemoteAction, "action_response_format_spec", None)
    if _STOCK is None or spec is None:
        logger.warning(
            "this Rasa has no RemoteAction._validate_action_result/action_response_format_spec; "
            "action responses are validated the stock way (update rasa_ext/validation.py)"
        )
        return False
    RemoteAction._validate_action_result = make_validate(spec())
    return True


def uninstall() -> None:
    """Back to stock Rasa (tests and benchmarks)."""
    if _STOCK is not None:
        RemoteAction._validate_action_result = _STOCK


__all__ = ["ValidationError", "install", "installed", "make_validate", "uninstall"]
