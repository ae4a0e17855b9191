"""Exercise checks that fail with a friendly message instead of a NameError deep in a helper.

A check cell starts with one line saying what it checks, then calls these::

    # Check: you measured a speedup from a race
    checks.answered(speedup=speedup)
    checks.expect(speedup > 2, "PyPy should win this race by at least 2x; did you race the loop?")
"""

from __future__ import annotations

__all__ = ["ExerciseNotDone", "answered", "expect", "is_blank"]


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
