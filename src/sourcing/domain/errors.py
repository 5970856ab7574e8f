"""The one error hierarchy: every failure a caller should see carries an HTTP status and a code."""

from __future__ import annotations

from typing import Any, ClassVar


class SourcingError(Exception):
    """Base of every error the service raises on purpose."""

    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


class BadInputError(SourcingError):
    """The caller sent something malformed or out of range."""

    status_code = 422
    code = "bad_input"


class PayloadTooLargeError(BadInputError):
    status_code = 413
    code = "payload_too_large"


class UnknownHostError(BadInputError):
    """The Host header names a site this server does not serve (DNS rebinding, spoofing)."""

    status_code = 400
    code = "unknown_host"


class NotFoundError(SourcingError):
    status_code = 404
    code = "not_found"


class ConflictError(SourcingError):
    status_code = 409
    code = "conflict"


class ConversationFullError(ConflictError):
    """A stored conversation reached its turn cap; the buyer starts a new one."""

    code = "conversation_full"


class AuthError(SourcingError):
    status_code = 401
    code = "unauthorised"


class ForbiddenError(SourcingError):
    status_code = 403
    code = "forbidden"


class FeedError(BadInputError):
    """A whole feed cannot be read (missing file, unknown format, no header); rows are reported."""

    code = "bad_feed"


class ConfigurationError(SourcingError):
    """The service is set up wrongly (a missing model file, a bad URL)."""

    code = "configuration_error"


class UpstreamError(SourcingError):
    """A service we call (a model or embedding endpoint) failed or answered malformed data."""

    status_code = 502
    code = "upstream_error"


class RetryLaterError(SourcingError):
    """A refusal the caller may retry; the handler sends Retry-After with `retry_after_s`."""

    status_code = 503
    code = "retry_later"

    def __init__(self, message: str, *, retry_after_s: float = 1.0, **details: Any) -> None:
        super().__init__(message, retry_after_s=retry_after_s, **details)
        self.retry_after_s = retry_after_s


class RateLimitedError(RetryLaterError):
    """The key (or client) made more requests than its limit allows."""

    status_code = 429
    code = "rate_limited"


class ServiceUnavailableError(RetryLaterError):
    """A dependency (database, index, model) is down, locked or busy; try again shortly."""

    status_code = 503
    code = "service_unavailable"


class ShuttingDownError(ServiceUnavailableError):
    """This server is stopping; the request is safe to retry (another replica, or after restart)."""

    code = "shutting_down"
