"""States entered per path, read from the state machine definition itself.

Why from the ASL: the cost of a call is mostly Step Functions transitions, and a
path's transitions are the states it enters. Walking the definition (each Choice
and Catch resolved the way the path goes) gives every path's figure, including
the ones a short bench run rarely or never enters (a review that times out, the
analysis wait), and stays true when the state machine changes. The embedded
bench's execution histories check the walk on the paths it does enter.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from handoff_dev.embedded.stack import PROJECT_ROOT

ASL = PROJECT_ROOT / "statemachine" / "handoff.asl.json"


@dataclass(frozen=True)
class CallPath:
    """One way a call goes through the state machine, and its share of a realistic mix."""

    name: str
    share: float
    turns: dict[str, str] = field(default_factory=dict)
    """State -> the state it goes to instead of its ``Next``/``Default`` (a Choice taken, a Catch)."""


# A realistic mix: an assumption, stated here and printed with the figures. A campaign-heavy
# account skews to "acted"; the shares follow the sample corpus's outcomes (make bench
# measured 43% acted, 14% nothing to do, 43% needing review) with the review outcomes split
# as operators reported them, and about a quarter of calls waiting for a late analysis.
WAIT = {"Resume": "AwaitAnalysis"}
REVIEW = {"ChooseMode": "RequestReview"}
MIX: tuple[CallPath, ...] = (
    CallPath("acted", 0.32, {"ChooseMode": "Act"}),
    CallPath("acted after the analysis wait", 0.11, {**WAIT, "ChooseMode": "Act"}),
    CallPath("nothing to do", 0.10, {"ChooseMode": "NothingToDo"}),
    CallPath("nothing to do after the analysis wait", 0.04, {**WAIT, "ChooseMode": "NothingToDo"}),
    CallPath("review approved", 0.33, {**REVIEW}),
    CallPath("review rejected", 0.06, {**REVIEW, "RequestReview": "Rejected"}),
    CallPath("review timed out", 0.04, {**REVIEW, "RequestReview": "ExpireReview"}),
)


SELF_PUBLISHING = frozenset({"RequestReview", "Act", "NothingToDo", "Rejected"})
"""States that publish an outcome event themselves (the lean state machine has no Publish state on their paths)."""


def definition(path: Path = ASL) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def states_entered(turns: dict[str, str], asl: dict[str, Any] | None = None) -> list[str]:
    """The states a fresh execution enters when it turns as ``turns`` says (bounded: no loops)."""
    asl = asl or definition()
    states = asl["States"]
    entered: list[str] = []
    name: str | None = asl["StartAt"]
    while name is not None:
        if len(entered) > len(states):
            raise ValueError(f"the walk loops at {name}")
        entered.append(name)
        state = states[name]
        if name in turns:
            name = turns[name]
        elif state["Type"] == "Choice":
            name = state.get("Default")
        elif state.get("End") or state["Type"] in ("Succeed", "Fail"):
            name = None
        else:
            name = state.get("Next")
    return entered


def lambda_tasks(entered: list[str], asl: dict[str, Any] | None = None) -> list[str]:
    """The Lambda functions (template logical ids) the entered Task states invoke."""
    asl = asl or definition()
    out = []
    for name in entered:
        state = asl["States"][name]
        target = str((state.get("Parameters") or {}).get("FunctionName", ""))
        if state["Type"] == "Task" and target.startswith("${") and target.endswith("Arn}"):
            out.append(target[2:-4])
    return out


@dataclass(frozen=True)
class PathFigures:
    name: str
    share: float
    states: list[str]
    lambdas: list[str]

    @property
    def transitions(self) -> int:
        return len(self.states)

    @property
    def events(self) -> int:
        """Outcome events published: by the states that publish (a Publish state, or a step that publishes its own)."""
        return sum(1 for s in self.states if s.startswith("Publish") or s in SELF_PUBLISHING)

    def as_dict(self) -> dict[str, Any]:
        return {
            "share": self.share,
            "transitions": self.transitions,
            "lambda_invocations": self.lambdas,
            "events": self.events,
            "states": self.states,
        }


def figures(mix: tuple[CallPath, ...] = MIX) -> list[PathFigures]:
    asl = definition()
    out = []
    for path in mix:
        entered = states_entered(path.turns, asl)
        out.append(PathFigures(path.name, path.share, entered, lambda_tasks(entered, asl)))
    return out


def mix_average(values: dict[str, float], mix: list[PathFigures]) -> float:
    """The mix-weighted mean of a per-path value."""
    total = sum(f.share for f in mix)
    return sum(f.share * values[f.name] for f in mix) / total


def lambda_invocations(mix: list[PathFigures]) -> dict[str, float]:
    """Invocations per call of each function the state machine runs, over the mix."""
    total = sum(f.share for f in mix)
    out: dict[str, float] = {}
    for f in mix:
        for name in f.lambdas:
            out[name] = out.get(name, 0.0) + f.share / total
    return out
