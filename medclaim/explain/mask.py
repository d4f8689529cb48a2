"""Person numbers as terminals, plain output, JSON and logs show them."""

from __future__ import annotations


def mask_id(value: str | None) -> str:
    """Person and certificate numbers for terminals and logs: 3417**********0433.

    Ids of 10 characters or more keep their first 4 and last 4; shorter ids keep their last 2;
    ids of 1–2 characters are masked whole.
    """
    if value is None:
        return ""
    s = str(value)
    n = len(s)
    if n >= 10:
        return s[:4] + "*" * (n - 8) + s[-4:]
    if n > 2:
        return "*" * (n - 2) + s[-2:]
    return "*" * n

