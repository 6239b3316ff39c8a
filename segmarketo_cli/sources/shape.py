"""Type checks of the common Spec fields, shared by every job before it uses a message."""

from __future__ import annotations

import re
from typing import Any

ID_KEYS = ("userId", "anonymousId", "previousId")
OBJECT_KEYS = ("traits", "properties", "context")
# A lone surrogate (JSON's "\ud800" without its pair): Python decodes it, but it is not text UTF-8 can encode, so no
# engine table, state store or API request could hold an id made of it.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_NAMES = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}


def json_type(value: Any) -> str:
    """'an object', 'an array', ... for a decoded JSON value, for reject reasons."""
    return _NAMES.get(type(value), type(value).__name__)


def shape_problem(message: Any) -> str | None:
    """Why a decoded message cannot be a Spec message (a wrongly typed common field), or None.

    Segment takes ids as strings (numbers are stringified); a list or object would otherwise be joined into a
    string like "['x']" or crash a lookup, so it is a malformed record with its reason. So is an id holding a lone
    surrogate, which no table or request could store (text_problem).
    """
    if not isinstance(message, dict):
        return f"the message is {json_type(message)}, expected an object"
    for key in ("type", "event", "messageId"):
        value = message.get(key)
        if value is not None and not isinstance(value, str) and not (key == "messageId" and _is_number(value)):
            return f"'{key}' is {json_type(value)}, expected a string"
    for key in ID_KEYS:
        value = message.get(key)
        if value is not None and not (isinstance(value, str) or _is_number(value)):
            return f"'{key}' is {json_type(value)}, expected a string"
        if isinstance(value, str):
            problem = text_problem(key, value)
            if problem:
                return problem
    for key in OBJECT_KEYS:
        value = message.get(key)
        if value is not None and not isinstance(value, dict):
            return f"'{key}' is {json_type(value)}, expected an object"
    return None


def text_problem(key: str, value: str) -> str | None:
    """Why the string `value` of `key` is no text an id or address can be (a lone surrogate), or None."""
    found = _LONE_SURROGATE.search(value)
    return None if found is None else f"'{key}' holds a lone surrogate (\\u{ord(found.group()):04x}), which is not text"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
