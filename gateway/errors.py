"""One exception type for every client error, so handlers raise and the middleware answers JSON."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web


class ApiError(Exception):
    """An error answer: status, one-line message, optional headers.

    ``code`` switches the body to the OAuth2 shape ({"error": code, "error_description":
    message}); ``auth_reason`` labels gateway_auth_failures_total.
    """

    def __init__(
        self,
        status: int,
        message: str,
        headers: Mapping[str, str] | None = None,
        *,
        code: str | None = None,
        auth_reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.code = code
        self.auth_reason = auth_reason

    def body(self) -> dict[str, str]:
        if self.code:
            return {"error": self.code, "error_description": self.message}
        return {"error": self.message}

    def response(self) -> web.Response:
        return web.json_response(self.body(), status=self.status, headers=self.headers)


def json_error(status: int, message: str, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=dict(headers or {}))
