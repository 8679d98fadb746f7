"""`check`'s report: the load path of a sync, step by step, each with its result and, on failure, the fix.

The report is data: one `Step` per stage of the path a sync's data takes (`STEPS`, in the order `check` runs
them: connection_check.py), each with an outcome, a result (what was found) and a fix (what to change; empty
when nothing needs changing). Every step is logged the moment it ends, one LOG line each, so a successful
`check` leaves the whole path in its log; when a step fails, the ones after it do not run, and the
CONNECTION_STATUS message names the failed step, its result and its fix, and the steps that passed before it.
A step with a `warning` passed, but found something the user may want to change (its fix says what); it does
not fail `check`, and the SUCCEEDED status message lists it.

Nothing here talks to StarRocks or sees the configuration's password: results are written from what StarRocks
answered and the configuration's names and addresses only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

PASSED = "passed"
WARNING = "warning"
FAILED = "failed"
LEVELS = {PASSED: logging.INFO, WARNING: logging.WARNING, FAILED: logging.ERROR}

# (key, title) of every step, in the order they run; each needs the ones before it.
STEPS: tuple[tuple[str, str], ...] = (
    ("login", "FE query port and login"),
    ("version", "StarRocks version and options"),
    ("database", "database"),
    ("replication", "live BEs and replication"),
    ("privileges", "privileges"),
    ("redirect", "Stream Load redirect to a BE"),
    ("probe_load", "probe load"),
    ("version_pressure", "version pressure"),
)
TITLES = dict(STEPS)
NUMBERS = {key: number for number, (key, _) in enumerate(STEPS, start=1)}


class StepFailed(Exception):  # noqa: N818 - a step's outcome, not an error of the program
    """Raised by a step: what it found, and what the user should change."""

    def __init__(self, result: str, fix: str) -> None:
        super().__init__(result)
        self.result = result
        self.fix = fix


@dataclass(frozen=True)
class Caveat:
    """What a step returns when it passed but found something the user may want to change."""

    result: str
    fix: str


@dataclass(frozen=True)
class Step:
    key: str
    outcome: str  # PASSED, WARNING or FAILED
    result: str
    fix: str = ""

    @property
    def title(self) -> str:
        return TITLES[self.key]

    @property
    def number(self) -> int:
        return NUMBERS[self.key]

    def line(self) -> str:
        """The step's LOG line: `Check 3/8, database: passed. 'airbyte' exists ...`."""
        text = f"Check {self.number}/{len(STEPS)}, {self.title}: {self.outcome}. {_sentence(self.result)}"
        return f"{text} Fix: {_sentence(self.fix)}" if self.fix else text


class Report:
    """The steps run so far, logged as they are recorded."""

    def __init__(self, log: Callable[[int, str], None] | None = None) -> None:
        self.steps: list[Step] = []
        self._log = log or (lambda level, line: None)

    def record(self, key: str, outcome: str, result: str, fix: str = "") -> Step:
        step = Step(key, outcome, result, fix)
        self.steps.append(step)
        self._log(LEVELS[outcome], step.line())
        return step

    def step(self, key: str) -> Step | None:
        return next((step for step in self.steps if step.key == key), None)

    @property
    def failure(self) -> Step | None:
        return next((step for step in self.steps if step.outcome == FAILED), None)

    @property
    def warnings(self) -> list[Step]:
        return [step for step in self.steps if step.outcome == WARNING]

    def status_message(self) -> str | None:
        """The CONNECTION_STATUS message: the failed step and its fix; on success the warnings, if any."""
        failure = self.failure
        if failure is None:
            if not self.warnings:
                return None
            found = " ".join(
                f"{step.title}: {_sentence(step.result)} Fix: {_sentence(step.fix)}" for step in self.warnings
            )
            return f"All {len(STEPS)} steps passed, {len(self.warnings)} with a warning. {found}"
        text = (
            f"Check failed at step {failure.number} of {len(STEPS)}, {failure.title}: "
            f"{_sentence(failure.result)} Fix: {_sentence(failure.fix)}"
        )
        before = [step.title for step in self.steps if step.number < failure.number]
        return f"{text} (Passed before it: {'; '.join(before)}.)" if before else text


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else f"{text}."
