"""What reaches the logs: request targets with the keys in them hidden.

A client may put its key in the URL (``?api_key=...``), and uvicorn's access log writes the
whole request target. ``redact_target`` is the rule; ``RedactTargets`` applies it to the
access log of ``policyfacts serve`` in every worker (``uvicorn_log_config``).
"""

import copy
import logging
import re
from typing import Any
from urllib.parse import unquote_plus

REDACTED = "REDACTED"
# Query parameters whose value is a credential, compared lower-case, with "-" read as "_".
SENSITIVE = frozenset(
    {"api_key", "apikey", "key", "token", "access_token", "auth", "authorization"}
    | {"password", "secret", "bearer"}
)
# A key of `policyfacts keys create` wherever it is, "_" percent-encoded or not: "pf_" and
# the start of its token (43 URL-safe characters; a truncated key is still a secret).
_KEY = re.compile(r"pf(?:_|%5f)[A-Za-z0-9_-]{8,}", re.IGNORECASE)


def redact_target(target: str) -> str:
    """``target`` (path and query, as sent) with credentials replaced by ``REDACTED``."""
    path, question, query = target.partition("?")
    if question:
        fields = []
        for field in query.split("&"):
            name, equals, value = field.partition("=")
            if equals and value and _name(name) in SENSITIVE:
                value = REDACTED
            fields.append(name + equals + value)
        query = "&".join(fields)
    return _KEY.sub(REDACTED, path + question + query)


def _name(raw: str) -> str:
    return unquote_plus(raw).strip().lower().replace("-", "_")


class RedactTargets(logging.Filter):
    """Applies ``redact_target`` to the arguments of uvicorn's access log records, which
    are (client, method, target, HTTP version, status): the formatter reads them as such."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_target(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with ``RedactTargets`` on its access log. Given as
    configuration, not installed on the logger here: uvicorn's worker processes configure
    their logging from it afresh."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_targets"] = {"()": "app.logs.RedactTargets"}
    config["loggers"]["uvicorn.access"]["filters"] = ["redact_targets"]
    return config
