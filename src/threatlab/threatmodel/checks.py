"""Property checks of a threat model, for grading: robust to names, extra elements and order.

The checks look at what the model *says*, never at what its elements are called: which elements
play which ML role (``ml_role``), which trust boundary each sits in, which dataflows cross a
boundary, and what is reachable from what. For example, "poisoning via the vendor" is covered
when some dataflow leaves the labeling vendor's trust boundary, leads (directly or through other
elements) to the training data, and carries a threat mapped to AML.T0020.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .mlthreats import MLFinding, model_elements, role_problems

STRUCTURE_ROLES = (
    "data_feed",
    "labeler",
    "training_data",
    "training",
    "model_registry",
    "model_hub",
    "inference",
    "monitoring",
)
EXTERNAL_ROLES = ("data_feed", "labeler", "model_hub")
REQUIRED_PATHS = (
    ("labeler", ("training_data",)),
    ("data_feed", ("training_data",)),
    ("training_data", ("training",)),
    ("training", ("model_registry",)),
    ("model_hub", ("model_registry", "training")),
    ("model_registry", ("inference",)),
    ("inference", ("monitoring",)),
)
# Which ids count for each required threat (any one of them).
REQUIRED_THREATS: dict[str, tuple[str, ...]] = {
    "poisoning via the labeling vendor": ("AML.T0020",),
    "backdoored base model": ("AML.T0010.003", "AML.T0058", "AML.T0018", "AML.T0018.000"),
    "evasion at the prediction API": ("AML.T0015",),
    "model extraction through the API": ("AML.T0024.002",),
    "membership inference through the API": ("AML.T0024.000",),
    "unsafe model loading from the registry": ("AML.T0011.000",),
}


def role(element) -> str | None:
    """An element's ``ml_role`` (None if it has none)."""
    return getattr(element, "ml_role", None)


def is_flow(element) -> bool:
    """Whether ``element`` is a dataflow (has a source and a sink)."""
    return hasattr(element, "source") and hasattr(element, "sink")


def crosses_boundary(flow) -> bool:
    """Whether a dataflow's source and sink sit in different trust boundaries (or one in none)."""
    return flow.source.inBoundary is not flow.sink.inBoundary


@dataclass
class ModelView:
    """A snapshot of a pytm model's elements (pytm's own state is global and can be reset)."""

    elements: list = field(default_factory=list)

    @classmethod
    def of(cls, model=None) -> ModelView:
        """A view of ``model``: a ``ModelView``, a list of elements, or a pytm ``TM`` (its state now)."""
        if isinstance(model, ModelView):
            return model
        if isinstance(model, Sequence):
            return cls(list(model))
        return cls(model_elements(model))

    @property
    def flows(self) -> list:
        return [e for e in self.elements if is_flow(e)]

    @property
    def nodes(self) -> list:
        """Elements that are neither dataflows nor boundaries."""
        from pytm import Boundary

        return [e for e in self.elements if not is_flow(e) and not isinstance(e, Boundary)]

    def with_role(self, name: str) -> list:
        return [e for e in self.nodes if role(e) == name]

    def reachable(self, start, targets: Iterable) -> bool:
        """Whether data can flow from ``start`` to any of ``targets`` (start itself counts)."""
        goals = {id(t) for t in targets}
        seen, stack = set(), [start]
        while stack:
            node = stack.pop()
            if id(node) in goals:
                return True
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.extend(f.sink for f in self.flows if f.source is node)
        return False

    def zone(self, role_name: str) -> tuple[list, list]:
        """(elements with the role, the boundaries they sit in)."""
        members = self.with_role(role_name)
        boundaries = [e.inBoundary for e in members if e.inBoundary is not None]
        return members, boundaries

    def in_zone(self, element, role_name: str) -> bool:
        """Whether ``element`` has the role or sits inside a boundary that holds an element with it."""
        members, boundaries = self.zone(role_name)
        return any(element is m for m in members) or any(
            element.inBoundary is b for b in boundaries
        )

    def leaving(self, role_name: str, into_roles: Sequence[str]) -> list:
        """Flows that leave the zone of ``role_name``, cross a boundary, and reach one of ``into_roles``."""
        targets = [e for r in into_roles for e in self.with_role(r)]
        return [
            f
            for f in self.flows
            if self.in_zone(f.source, role_name)
            and not self.in_zone(f.sink, role_name)
            and crosses_boundary(f)
            and self.reachable(f.sink, targets)
        ]

    def api_targets(self) -> list:
        """The inference elements and the boundary-crossing flows from clients into them."""
        apis = self.with_role("inference")
        inbound = [
            f
            for f in self.flows
            if any(f.sink is a for a in apis) and crosses_boundary(f) and role(f.source) is None
        ]
        return apis + inbound

    def loading_targets(self) -> list:
        """Flows out of the model registry into a process, and those processes."""
        from pytm import Datastore

        flows = [
            f
            for f in self.flows
            if role(f.source) == "model_registry" and not isinstance(f.sink, Datastore)
        ]
        return flows + [f.sink for f in flows]


def structure_problems(model=None) -> list[str]:
    """What a scenario model (vendor, feed, pipeline, registry, hub, API, monitoring) lacks.

    Checks roles, trust boundaries, a public client and the data paths; empty when complete.
    """
    view = ModelView.of(model)
    problems = role_problems(view.elements) if view.elements else ["the model has no elements"]
    for name in STRUCTURE_ROLES:
        if not view.with_role(name):
            problems.append(f"no element has ml_role={name!r}")
    for name in EXTERNAL_ROLES:
        for element in view.with_role(name):
            inside = {id(e.inBoundary) for e in view.with_role("training_data")}
            if element.inBoundary is None or id(element.inBoundary) in inside:
                problems.append(
                    f"{element} (ml_role={name!r}) is a third party: put it in its own trust "
                    "boundary, not the one of the training data"
                )
    for api in view.with_role("inference"):
        if api.inBoundary is None:
            problems.append(f"{api} (the prediction API) must sit inside a trust boundary")
        public = [
            f
            for f in view.flows
            if f.sink is api and crosses_boundary(f) and role(f.source) is None
        ]
        if not public:
            problems.append(
                f"no client outside {api}'s trust boundary sends it requests: add the public "
                "client (an Actor) and a dataflow into the API"
            )
    for start, goals in REQUIRED_PATHS:
        targets = [e for g in goals for e in view.with_role(g)]
        if not targets:
            continue
        for element in view.with_role(start):
            if not view.reachable(element, targets):
                wanted = " or ".join(repr(g) for g in goals)
                problems.append(f"no dataflow path from {element} (ml_role={start!r}) to {wanted}")
    return problems


Attachment = tuple[object, frozenset]


def attachments_from_findings(findings: Iterable[MLFinding]) -> list[Attachment]:
    """(element, ATLAS ids) for each finding of the ML library, with the library's own ids."""
    return [(f.element, frozenset(f.threat.atlas)) for f in findings]


def attachments_from_mapping(
    findings: Iterable[MLFinding], mapping: Mapping[str, Mapping], keep: Iterable[str] | None = None
) -> list[Attachment]:
    """(element, ATLAS ids) when the ids come from a learner's mapping ``SID -> {"atlas": ...}``.

    ``mapping[sid]["atlas"]`` is a list of ids or a dict id -> name; findings whose SID is not
    in ``keep`` (when given) or has no mapping are skipped.
    """
    kept = None if keep is None else set(keep)
    found = []
    for finding in findings:
        if kept is not None and finding.sid not in kept:
            continue
        entry = mapping.get(finding.sid)
        if not isinstance(entry, Mapping):
            continue
        ids = entry.get("atlas", ())
        found.append((finding.element, frozenset(ids)))
    return found


def coverage(model, attachments: Iterable[Attachment]) -> dict[str, bool]:
    """For each required threat of the scenario, whether it is attached to the right element."""
    view = ModelView.of(model)
    attached = list(attachments)

    def carries(targets: list, wanted: tuple[str, ...]) -> bool:
        return any(
            any(element is t for t in targets) and ids & set(wanted) for element, ids in attached
        )

    places = {
        "poisoning via the labeling vendor": view.leaving("labeler", ("training_data",)),
        "backdoored base model": view.leaving("model_hub", ("model_registry", "training")),
        "evasion at the prediction API": view.api_targets(),
        "model extraction through the API": view.api_targets(),
        "membership inference through the API": view.api_targets(),
        "unsafe model loading from the registry": view.loading_targets(),
    }
    return {name: carries(places[name], REQUIRED_THREATS[name]) for name in REQUIRED_THREATS}


WHERE = {
    "poisoning via the labeling vendor": "a dataflow that leaves the labeling vendor's boundary "
    "and leads to the training data",
    "backdoored base model": "a dataflow that leaves the model hub's boundary and leads to the "
    "model registry or training",
    "evasion at the prediction API": "the prediction API or a boundary-crossing dataflow into it",
    "model extraction through the API": "the prediction API or a boundary-crossing dataflow into it",
    "membership inference through the API": "the prediction API or a boundary-crossing dataflow "
    "into it",
    "unsafe model loading from the registry": "a dataflow from the model registry into the "
    "process that loads the model (or that process)",
}


def coverage_problems(model, attachments: Iterable[Attachment]) -> list[str]:
    """Human-readable list of required threats that are missing or attached elsewhere."""
    covered = coverage(model, attachments)
    return [
        f"{name}: expected a threat with {' or '.join(REQUIRED_THREATS[name])} on {WHERE[name]}"
        for name, ok in covered.items()
        if not ok
    ]
