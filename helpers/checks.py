"""Exercise checks that fail with a friendly message instead of a NameError deep in a helper.

A check cell starts with one line saying what it checks, then calls these::

    # Check: you measured a speedup from a race
    checks.answered(speedup=speedup)
    checks.expect(speedup > 2, "PyPy should win this race by at least 2x; did you race the loop?")

A prediction is recorded before the measurement and checked only for being made::

    # Check: you wrote down a prediction before racing
    checks.predicted(guess=guess)               # a number; or choices=("A", "B") for a choice

and once the measurement is in, set beside it (the notebook then prints what the gap means)::

    print(checks.versus(guess, result.speedup, unit="×"))

This module is a leaf: it imports nothing of the course's.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["ExerciseNotDone", "answered", "expect", "is_blank", "predicted", "versus"]


class ExerciseNotDone(AssertionError):
    """An exercise answer is missing or not yet right; the message says what to try."""


def is_blank(value) -> bool:
    """True for the stub an exercise starts with (``...``) or an empty answer."""
    return value is Ellipsis or value is None or (isinstance(value, str) and not value.strip())


def answered(**answers) -> None:
    """Each named answer must be filled in: ``checks.answered(speedup=speedup)``."""
    __tracebackhide__ = True
    blank = [name for name, value in answers.items() if is_blank(value)]
    if blank:
        names = ", ".join(f"`{n}`" for n in blank)
        raise ExerciseNotDone(
            f"{names} {'is' if len(blank) == 1 else 'are'} still blank: replace the `...` in the "
            "cell above with your code, run it, then run this check again."
        )


def expect(condition, message: str) -> None:
    """Fail with ``message`` (what was expected and what to try) unless ``condition`` holds."""
    __tracebackhide__ = True
    if not condition:
        raise ExerciseNotDone(message)


def _is_number(value) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def predicted(choices=None, **predictions) -> None:
    """Each named prediction must be made, before the measurement runs; any prediction counts.

    With ``choices`` (a collection) each prediction must be one of them, or, for a set, a subset
    of them; without, each must be a number.
    """
    __tracebackhide__ = True
    blank = [name for name, value in predictions.items() if is_blank(value)]
    if blank:
        names = ", ".join(f"`{n}`" for n in blank)
        raise ExerciseNotDone(
            f"{names}: write down your prediction first (replace the `...`), before running the "
            "measurement below. Any honest guess counts; it is not graded, only set beside what "
            "you will measure.")
    for name, value in predictions.items():
        if choices is None:
            if not _is_number(value):
                raise ExerciseNotDone(f"`{name}` should be a number (your guess), not {value!r}.")
        elif isinstance(value, (set, frozenset)):
            outside = sorted(map(str, set(value) - set(choices)))
            if outside:
                raise ExerciseNotDone(f"`{name}` should hold only names from {sorted(choices)}; "
                                      f"{', '.join(outside)} is not one of them.")
        elif value not in choices:
            raise ExerciseNotDone(f"`{name}` should be one of {list(choices)}, not {value!r}.")


def _figure(x: float, unit: str) -> str:
    return f"{x:.3g}{unit}"


def versus(prediction, measured, *, unit: str = "") -> str:
    """One sentence setting a prediction beside the measurement of this run.

    Numbers: how many times the measurement is above or below the guess. Sets: what was right,
    missed and extra. Anything else: whether the choice was the measured one.
    """
    if isinstance(prediction, (set, frozenset)) or isinstance(measured, (set, frozenset)):
        guess, real = set(prediction or ()), set(measured)
        hit, missed, extra = guess & real, real - guess, guess - real
        parts = [f"right: {', '.join(sorted(map(str, hit))) or 'none'}"]
        if missed:
            parts.append(f"missed: {', '.join(sorted(map(str, missed)))}")
        if extra:
            parts.append(f"predicted but not so: {', '.join(sorted(map(str, extra)))}")
        verdict = "exactly right" if guess == real else "; ".join(parts)
        return (f"You predicted {sorted(map(str, guess)) or 'none'}; measured "
                f"{sorted(map(str, real)) or 'none'}: {verdict}.")
    if _is_number(prediction) and _is_number(measured):
        said = (f"You predicted {_figure(prediction, unit)}; this run measured "
                f"{_figure(measured, unit)}")
        if prediction == measured:
            return said + ": spot on."
        if prediction <= 0 or measured <= 0:
            return said + "."
        factor = measured / prediction
        if 1 / 1.25 <= factor <= 1.25:
            return said + ": within 25% of your guess."
        if factor > 1:
            return said + f", {factor:.3g} times as much as you expected."
        return said + f", {1 / factor:.3g} times less than you expected."
    verdict = "as you predicted" if prediction == measured else "not what you predicted"
    return f"You predicted {prediction!r}; this run measured {measured!r}: {verdict}."
