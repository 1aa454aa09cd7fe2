"""When is a target met? The rule of API.md, as one pure function.

- No outcome, or no number on either side: ``pending``.
- ``approx`` reads as an interval of half a unit in the target's last stated digit: "about 5"
  is 4.5 to 5.5, "around 5.5" is 5.45 to 5.55, "about 1 trillion" is 0.5 to 1.5 trillion.
  Inside it is ``met``; beyond it on the good side of the indicator's ``better`` is ``met``
  too (an unemployment ceiling of "around 5.5" is met by 5.1); for ``neutral``, only inside.
- ``gt``, ``gte``, ``lt``, ``lte`` and ``eq`` are met when the outcome satisfies them.
"""

import re
from decimal import Decimal

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def half_unit(value: float, value_text: str) -> Decimal:
    """Half a unit in the last digit the source stated, in the base units of ``value``.

    The stated number is read from ``value_text`` ("about a 5 percent", "1 trillion yuan") and
    scaled to ``value``; without a number in the text, the last non-zero digit of ``value``.
    """
    for token in _NUMBER.findall(value_text):
        stated = Decimal(token.replace(",", ""))
        if stated == 0:
            continue
        scale = Decimal(repr(value)) / stated
        exponent = stated.as_tuple().exponent
        assert isinstance(exponent, int)
        return Decimal(5).scaleb(exponent - 1) * abs(scale)
    digits = Decimal(repr(abs(value))).normalize().as_tuple()
    assert isinstance(digits.exponent, int)
    return Decimal(5).scaleb(digits.exponent - 1)


def status(
    *,
    target: float | None,
    comparator: str | None,
    value_text: str,
    outcome: float | None,
    better: str,
) -> str:
    if target is None or outcome is None:
        return "pending"
    if comparator == "approx":
        # Decimal, so that the interval's ends are exactly what the source's digits say.
        half = half_unit(target, value_text)
        stated, result = Decimal(repr(target)), Decimal(repr(outcome))
        low, high = stated - half, stated + half
        outcome_in = low <= result <= high
        if outcome_in:
            return "met"
        if better == "higher" and result > high:
            return "met"
        if better == "lower" and result < low:
            return "met"
        return "missed"
    met = {
        "gt": outcome > target,
        "gte": outcome >= target,
        "lt": outcome < target,
        "lte": outcome <= target,
    }.get(comparator or "eq", outcome == target)
    return "met" if met else "missed"
