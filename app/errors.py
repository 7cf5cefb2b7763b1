"""Errors the services raise. The API turns them into JSON with a status code; the pages into a message."""

from __future__ import annotations


class StudioError(Exception):
    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"detail": self.message}
        if self.field:
            body["field"] = self.field
        return body


class NotFound(StudioError):
    status_code = 404


class Conflict(StudioError):
    status_code = 409


class InvalidInput(StudioError):
    status_code = 422


class TooLarge(StudioError):
    status_code = 413
