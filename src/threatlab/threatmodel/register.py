"""A risk register: threats scored likelihood x impact, sorted, as a table, a heat map and files."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from ..files import atomic_write_text
from .catalogue import catalogue

SCALE = (1, 2, 3, 4, 5)
LEVELS = {1: "very low", 2: "low", 3: "medium", 4: "high", 5: "very high"}
COLUMNS = (
    "rank",
    "threat",
    "element",
    "likelihood",
    "impact",
    "score",
    "atlas",
    "owasp",
    "mitigations",
)


def _score(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value not in SCALE:
        raise ValueError(
            f"{what} must be an integer from 1 (very low) to 5 (very high), got {value!r}."
        )
    return int(value)


def _ids(values, what: str, kind: str) -> tuple[str, ...]:
    if isinstance(values, str):
        values = [values]
    if isinstance(values, Mapping):
        values = list(values)
    ids = tuple(values or ())
    cat = catalogue()
    for ident in ids:
        entry = cat.validate(ident)
        if not entry.kind.startswith(kind):
            raise ValueError(
                f"{what}: {ident} is an {entry.kind} ({entry.name}), not an {kind} id."
            )
    return ids


@dataclass(frozen=True)
class Risk:
    """One row of the register. ``likelihood`` and ``impact`` are 1..5; ids are validated."""

    threat: str
    element: str
    likelihood: int
    impact: int
    atlas: tuple[str, ...] = ()
    owasp: tuple[str, ...] = ()
    mitigations: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.threat, str) or not self.threat.strip():
            raise ValueError(f"a risk needs a threat description (a string), got {self.threat!r}.")
        if not isinstance(self.element, str):
            raise ValueError(
                f"element must be the element's name (a string), got {self.element!r}."
            )
        object.__setattr__(
            self, "likelihood", _score(self.likelihood, f"{self.threat}: likelihood")
        )
        object.__setattr__(self, "impact", _score(self.impact, f"{self.threat}: impact"))
        object.__setattr__(self, "atlas", _ids(self.atlas, self.threat, "atlas-technique"))
        object.__setattr__(self, "owasp", _ids(self.owasp, self.threat, "owasp"))
        object.__setattr__(
            self, "mitigations", _ids(self.mitigations, self.threat, "atlas-mitigation")
        )

    @property
    def score(self) -> int:
        """likelihood x impact, 1..25."""
        return self.likelihood * self.impact


@dataclass
class RiskRegister:
    """Risks sorted by score (then impact, then threat name): the review's order of work."""

    risks: list[Risk] = field(default_factory=list)

    def __post_init__(self):
        risks = list(self.risks)
        bad = [r for r in risks if not isinstance(r, Risk)]
        if bad:
            raise ValueError(f"a RiskRegister holds Risk objects, got {type(bad[0]).__name__}.")
        self.risks = sorted(risks, key=lambda r: (-r.score, -r.impact, r.threat, r.element))

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping]) -> RiskRegister:
        """Build from dicts with keys threat, element, likelihood, impact[, atlas, owasp, mitigations]."""
        risks = []
        for i, row in enumerate(rows):
            missing = {"threat", "element", "likelihood", "impact"} - set(row)
            if missing:
                raise ValueError(f"row {i} lacks {sorted(missing)}: {dict(row)!r}")
            risks.append(
                Risk(
                    threat=row["threat"],
                    element=row["element"],
                    likelihood=row["likelihood"],
                    impact=row["impact"],
                    atlas=row.get("atlas", ()),
                    owasp=row.get("owasp", ()),
                    mitigations=row.get("mitigations", ()),
                )
            )
        return cls(risks)

    def __len__(self) -> int:
        return len(self.risks)

    def __iter__(self):
        return iter(self.risks)

    def top(self, n: int = 3) -> list[Risk]:
        """The ``n`` highest-scored risks."""
        return self.risks[:n]

    def rows(self) -> list[dict]:
        """One dict per risk, in order, with the columns of :data:`COLUMNS` (ids joined by ``; ``)."""
        return [
            {
                "rank": rank,
                "threat": r.threat,
                "element": r.element,
                "likelihood": r.likelihood,
                "impact": r.impact,
                "score": r.score,
                "atlas": "; ".join(r.atlas),
                "owasp": "; ".join(r.owasp),
                "mitigations": "; ".join(r.mitigations),
            }
            for rank, r in enumerate(self.risks, 1)
        ]

    def to_csv(self) -> str:
        """The register as CSV text (header row first)."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows())
        return buffer.getvalue()

    def to_markdown(self) -> str:
        """The register as a Markdown table, for a design review."""

        def cell(value) -> str:
            return str(value).replace("|", "\\|").replace("\n", " ")

        lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
        lines += ["| " + " | ".join(cell(row[c]) for c in COLUMNS) + " |" for row in self.rows()]
        return "\n".join(lines) + "\n"

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def write(self, path: str | Path) -> Path:
        """Write the register atomically as CSV (``.csv``) or Markdown (``.md``); return the path."""
        path = Path(path)
        if path.suffix == ".csv":
            atomic_write_text(path, self.to_csv())
        elif path.suffix == ".md":
            atomic_write_text(path, self.to_markdown())
        else:
            raise ValueError(f"write a register to a .csv or .md file, got {path.name!r}.")
        return path

    def heatmap(self, ax=None, *, title: str = "Risk register: likelihood x impact") -> Figure:
        """A 5x5 likelihood x impact grid coloured by score, each risk's rank written in its cell."""
        if ax is None:
            fig, ax = plt.subplots(figsize=(6.5, 5.5))
        else:
            fig = ax.figure
        grid = np.outer(np.array(SCALE), np.array(SCALE))  # [impact-1, likelihood-1]
        image = ax.imshow(grid, origin="lower", cmap="RdYlGn_r", vmin=1, vmax=25, alpha=0.85)
        cells: dict[tuple[int, int], list[str]] = {}
        for rank, r in enumerate(self.risks, 1):
            cells.setdefault((r.likelihood, r.impact), []).append(str(rank))
        for (likelihood, impact), ranks in cells.items():
            text = ", ".join(ranks) if len(ranks) <= 4 else ", ".join(ranks[:4]) + ", ..."
            ax.text(likelihood - 1, impact - 1, text, ha="center", va="center", fontsize=9)
        ax.set_xticks(range(5), [f"{v}\n{LEVELS[v]}" for v in SCALE])
        ax.set_yticks(range(5), [f"{LEVELS[v]} {v}" for v in SCALE])
        ax.set_xlabel("likelihood")
        ax.set_ylabel("impact")
        ax.set_title(title)
        fig.colorbar(image, ax=ax, label="score = likelihood x impact")
        fig.tight_layout()
        return fig
