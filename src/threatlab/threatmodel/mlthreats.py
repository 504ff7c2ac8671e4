"""An ML threat library for OWASP pytm, a fresh-model helper, findings, and DFD rendering.

pytm keeps every element of a model in class-level state (``TM._elements``): a notebook cell that
builds a model twice would otherwise get every element twice. :func:`new_model` resets that state
first, so a model-building cell can be re-run. Elements take an ``ml_role`` keyword (one of
:data:`ML_ROLES`); the library's conditions use it, e.g. a dataflow whose source is a
``"labeler"`` and which crosses a trust boundary gets the label-poisoning threat.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..files import atomic_write_text

ML_ROLES: dict[str, str] = {
    "data_feed": "an external source of training data (scraped web data, a partner feed)",
    "labeler": "an external labeling vendor or annotator pool",
    "training_data": "the datastore that holds training data and labels",
    "training": "the training pipeline (a process)",
    "model_registry": "the datastore of trained model artifacts",
    "model_hub": "an external source of pretrained base models",
    "inference": "the process that serves predictions (the prediction API)",
    "monitoring": "monitoring of the deployed model (a process or datastore)",
    "llm": "a large language model component",
}

GRAPHVIZ_HELP = (
    "Graphviz's `dot` program is needed to render the data-flow diagram and was not found on "
    "PATH. Install Graphviz: `sudo apt-get install graphviz` (Debian/Ubuntu), "
    "`brew install graphviz` (macOS) or `conda install graphviz`; Binder installs it from "
    "binder/apt.txt. Then restart the kernel. (`dfd_source(tm)` still gives the diagram's text.)"
)


class GraphvizMissingError(RuntimeError):
    """Raised when the Graphviz ``dot`` binary is not installed."""


@dataclass(frozen=True)
class MLThreat:
    """One threat of the ML library: what it is, where it applies, and its framework ids."""

    sid: str
    description: str
    target: tuple[str, ...]
    condition: str
    atlas: tuple[str, ...]
    owasp: tuple[str, ...]
    atlas_mitigations: tuple[str, ...]
    stage: str
    likelihood: str
    severity: str
    mitigations: str
    details: str = ""
    references: str = ""


@dataclass(frozen=True)
class MLFinding:
    """A threat of the ML library that applies to one element of a model."""

    sid: str
    description: str
    element: object  # the pytm element (a Dataflow, Datastore, ...)
    threat: MLThreat

    @property
    def element_name(self) -> str:
        """The element's name; a dataflow's reads ``name (source -> sink)``."""
        name = getattr(self.element, "name", str(self.element))
        if hasattr(self.element, "source") and hasattr(self.element, "sink"):
            return f"{name} ({self.element.source.name} -> {self.element.sink.name})"
        return name


def _threats_text() -> str:
    return (
        resources.files("threatlab.threatmodel").joinpath("data/ml_threats.json").read_text("utf-8")
    )


@lru_cache(maxsize=1)
def ml_threats() -> dict[str, MLThreat]:
    """The ML threat library, by SID (read from the package's ``data/ml_threats.json``)."""
    threats = {}
    for raw in json.loads(_threats_text()):
        target = raw.get("target", ["Element"])
        threats[raw["SID"]] = MLThreat(
            sid=raw["SID"],
            description=raw["description"],
            target=tuple([target] if isinstance(target, str) else target),
            condition=raw["condition"],
            atlas=tuple(raw.get("atlas", ())),
            owasp=tuple(raw.get("owasp", ())),
            atlas_mitigations=tuple(raw.get("atlas_mitigations", ())),
            stage=raw.get("stage", ""),
            likelihood=raw.get("Likelihood Of Attack", ""),
            severity=raw.get("severity", ""),
            mitigations=raw.get("mitigations", ""),
            details=raw.get("details", ""),
            references=raw.get("references", ""),
        )
    return threats


def new_model(name: str, description: str, *, threats_file: str | Path | None = None):
    """A fresh pytm ``TM`` that uses the ML threat library; earlier elements are forgotten.

    pytm registers every element in class-level state, so call this first in the cell (or
    function) that builds the model: re-running the cell then rebuilds the model instead of
    adding a second copy of every element. ``threats_file`` replaces the ML library by another
    pytm threats JSON file.
    """
    from pytm import TM

    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a threat model needs a non-empty name, got {name!r}.")
    if not isinstance(description, str) or not description.strip():
        raise ValueError("a threat model needs a short description of the system (a string).")
    TM.reset()
    if threats_file is not None:
        tm = TM(name, description=description, threatsFile=str(threats_file))
    else:
        with resources.as_file(
            resources.files("threatlab.threatmodel").joinpath("data/ml_threats.json")
        ) as path:
            tm = TM(name, description=description, threatsFile=str(path))
    # pytm's TM.reset() replaces the class-level state object; keep a reference to this model's
    # own state so that the model stays usable after another model has been built.
    object.__setattr__(tm, "_threatlab_state", TM._state)
    return tm


def _state(tm):
    from pytm import TM

    return getattr(tm, "_threatlab_state", None) or TM._state


@contextlib.contextmanager
def active(tm):
    """Make ``tm``'s elements pytm's current ones for the duration of a ``with`` block."""
    from pytm import TM

    saved = TM._state
    TM._state = _state(tm)
    try:
        yield tm
    finally:
        TM._state = saved


def model_elements(tm=None) -> list:
    """Every element of a pytm model (elements, boundaries and dataflows); None: the current one."""
    return list(_state(tm).elements)


def role_problems(tm=None) -> list[str]:
    """Elements (of ``tm``, or a list of elements) whose ``ml_role`` is not one of :data:`ML_ROLES` (with the nearest valid role)."""
    problems = []
    elements = tm if isinstance(tm, list) else model_elements(tm)
    for element in elements:
        role = getattr(element, "ml_role", None)
        if role is None or role in ML_ROLES:
            continue
        close = difflib.get_close_matches(str(role), list(ML_ROLES), n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        problems.append(
            f"{element}: ml_role={role!r} is not a known role ({', '.join(ML_ROLES)}).{hint}"
        )
    return problems


def ml_findings(tm) -> list[MLFinding]:
    """Run the ML threat library on ``tm`` (pytm's ``resolve``) and return its findings.

    Raises ValueError if an element's ``ml_role`` is misspelled (a typo would silently switch
    threats off).
    """
    problems = role_problems(tm)
    if problems:
        raise ValueError("fix these roles first:\n" + "\n".join(problems))
    library = ml_threats()
    if tm is None:
        raise ValueError("ml_findings needs the model (the TM that new_model returned).")
    with active(tm):
        tm.resolve()
    found = []
    for finding in tm.findings:
        threat = library.get(finding.threat_id)
        if threat is None:  # a threat from another file: keep it out of the ML view
            continue
        found.append(MLFinding(threat.sid, threat.description, finding.element, threat))
    return found


def dfd_source(tm) -> str:
    """The model's data-flow diagram in Graphviz's dot language (no Graphviz needed)."""
    for element in model_elements(tm):  # pytm marks what it drew; draw everything again
        element.is_drawn = False
    with active(tm):
        return tm.dfd()


def graphviz_dot() -> str:
    """The path of Graphviz's ``dot``; raises GraphvizMissingError with install help if absent."""
    dot = shutil.which("dot")
    if dot is None:
        raise GraphvizMissingError(GRAPHVIZ_HELP)
    return dot


def render_dfd(tm, path: str | Path | None = None, *, timeout: float = 60.0) -> str:
    """Render the model's DFD to SVG with Graphviz; return the SVG text (and write it to ``path``).

    Raises:
        GraphvizMissingError: ``dot`` is not installed (the message says how to install it).
        RuntimeError: ``dot`` failed (its error output is included).
    """
    dot = graphviz_dot()
    result = subprocess.run(  # noqa: S603 - a fixed binary, input on stdin
        [dot, "-Tsvg"],
        input=dfd_source(tm),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"Graphviz dot failed (exit {result.returncode}): {result.stderr.strip()}"
        )
    if path is not None:
        atomic_write_text(Path(path), result.stdout)
    return result.stdout
