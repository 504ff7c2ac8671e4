"""A curated catalogue of MITRE ATLAS and OWASP ids, and a validator for ids and names.

The catalogue (``data/catalogue.json``) holds the ATLAS techniques and mitigations and the OWASP
Machine Learning Security Top 10 (2023) / Top 10 for LLM Applications (2025) entries the course
uses, with their exact ids and current names, and a version stamp. ``validate_id`` checks one id
(and optionally its name) and raises ``FrameworkIdError`` with a suggestion when it is wrong.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

ATLAS_RE = re.compile(r"^\s*(?:AML\s*\.\s*)?([TM])\s*(\d{1,4})(?:\s*\.\s*(\d{1,3}))?\s*$", re.I)
OWASP_RE = re.compile(r"^\s*(ML|LLM)\s*(\d{1,2})\s*(?::\s*(\d{4}))?\s*$", re.I)
OWASP_EDITIONS = {"ML": "2023", "LLM": "2025"}


class FrameworkIdError(ValueError):
    """An ATLAS/OWASP id that does not exist, is written wrongly, or does not match its name."""


@dataclass(frozen=True)
class Entry:
    """One catalogue entry: an ATLAS technique or mitigation, or an OWASP Top 10 item."""

    id: str
    name: str
    kind: str  # atlas-technique | atlas-mitigation | owasp-ml | owasp-llm
    parent: str | None = None
    former_names: tuple[str, ...] = ()
    note: str | None = None
    source: str = "frameworks.md"

    @property
    def framework(self) -> str:
        """``"ATLAS"`` or ``"OWASP"``."""
        return "ATLAS" if self.kind.startswith("atlas") else "OWASP"


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2013", "-").replace("\u2014", "-")).strip().lower()


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


@dataclass
class Catalogue:
    """The curated ids. ``catalogue["AML.T0020"]`` returns an :class:`Entry` (or raises)."""

    version: dict
    entries: dict[str, Entry]
    superseded: dict[str, dict] = field(default_factory=dict)

    def __contains__(self, ident: object) -> bool:
        return isinstance(ident, str) and ident in self.entries

    def __iter__(self):
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, ident: str) -> Entry:
        return self.validate(ident)

    def full_name(self, ident: str) -> str:
        """The display name: a sub-technique's is ``"Parent: Sub"`` (``AI Supply Chain Compromise: Data``)."""
        entry = self.validate(ident)
        if entry.parent:
            return f"{self.entries[entry.parent].name}: {entry.name}"
        return entry.name

    def accepted_names(self, ident: str) -> list[str]:
        """Names that are correct for ``ident``: the current name, and the full one for a sub-technique."""
        entry = self.validate(ident)
        names = [entry.name]
        if entry.parent:
            names.append(self.full_name(ident))
        if entry.kind == "owasp-ml":  # OWASP itself publishes ML06 under two titles
            names.extend(entry.former_names)
        return names

    def search(self, text: str, kind: str | None = None) -> list[Entry]:
        """Entries whose id, current or former name contains every word of ``text``."""
        words = _tokens(text)
        found = []
        for entry in self.entries.values():
            if kind and not entry.kind.startswith(kind):
                continue
            haystack = _tokens(" ".join([entry.id, self.full_name(entry.id), *entry.former_names]))
            if words <= haystack:
                found.append(entry)
        return found

    def normalize(self, ident: str) -> str:
        """The canonical spelling of an id: ``"aml.m7"`` -> ``"AML.M0007"``, ``"ML2"`` -> ``"ML02:2023"``.

        Raises FrameworkIdError if ``ident`` is not shaped like an ATLAS or OWASP id, or is an OWASP
        LLM id without its year (the 2023 and 2025 lists number the same risks differently).
        """
        if not isinstance(ident, str):
            raise FrameworkIdError(
                f"an id must be a string such as 'AML.T0020' or 'ML02:2023', got {ident!r}."
            )
        atlas = ATLAS_RE.match(ident)
        if atlas:
            letter, number, sub = atlas.groups()
            canonical = f"AML.{letter.upper()}{int(number):04d}"
            return canonical + (f".{int(sub):03d}" if sub is not None else "")
        owasp = OWASP_RE.match(ident)
        if owasp:
            prefix, number, year = owasp.groups()
            prefix = prefix.upper()
            if year is None:
                if prefix == "LLM":
                    raise FrameworkIdError(
                        f"{ident!r}: give the year of the OWASP LLM Top 10 list, e.g. "
                        f"'LLM{int(number):02d}:2025' (the 2023 and 2025 lists number their "
                        "risks differently)."
                    )
                year = OWASP_EDITIONS[prefix]
            return f"{prefix}{int(number):02d}:{year}"
        raise FrameworkIdError(
            f"{ident!r} is not an ATLAS or OWASP id: expected 'AML.T0020' (technique), "
            "'AML.T0024.000' (sub-technique), 'AML.M0007' (mitigation), 'ML02:2023' (OWASP ML "
            "Top 10) or 'LLM04:2025' (OWASP LLM Top 10)."
        )

    def validate(self, ident: str, name: str | None = None, *, strict: bool = True) -> Entry:
        """Check an id (and, when given, its name); return its :class:`Entry`.

        ``strict`` (the default) also requires the canonical spelling (``AML.M0007``, not
        ``aml.m7`` or ``M0007``); with ``strict=False`` other spellings are normalised.

        Raises:
            FrameworkIdError: the id is malformed, not canonical (strict), not in the catalogue
                (with the nearest ids or the entry the name belongs to as a suggestion), from a
                superseded list, or ``name`` is not its name (a pre-ATLAS-4.9 name says so).
        """
        canonical = self.normalize(ident)
        if canonical in self.superseded:
            old = self.superseded[canonical]
            new = self.entries[old["use"]]
            raise FrameworkIdError(
                f"{canonical} ({old['name']}) is from the 2023 OWASP LLM Top 10; the course uses "
                f"the 2025 list: {new.id} {new.name}."
            )
        entry = self.entries.get(canonical)
        if entry is None:
            raise FrameworkIdError(self._unknown_message(canonical, name))
        if strict and canonical != ident:
            raise FrameworkIdError(f"{ident!r}: write it as {canonical!r} (the canonical form).")
        if name is not None:
            self._check_name(entry, name)
        return entry

    def problems(self, ids: Iterable[str] | Mapping[str, str], *, strict: bool = True) -> list[str]:
        """Every problem with a list of ids, or a mapping id -> name; an empty list means all valid."""
        pairs = ids.items() if isinstance(ids, Mapping) else ((i, None) for i in ids)
        found = []
        for ident, name in pairs:
            try:
                self.validate(ident, name, strict=strict)
            except FrameworkIdError as error:
                found.append(str(error))
        return found

    def _check_name(self, entry: Entry, name: str) -> None:
        if not isinstance(name, str):
            raise FrameworkIdError(f"the name of {entry.id} must be a string, got {name!r}.")
        given = _squash(name)
        if given in {_squash(n) for n in self.accepted_names(entry.id)}:
            return
        current = self.full_name(entry.id)
        parent_prefix = f"{self.entries[entry.parent].name}: " if entry.parent else ""
        for old in entry.former_names:
            if given in {_squash(old), _squash(parent_prefix + old)}:
                raise FrameworkIdError(
                    f"{entry.id}: {name!r} is its old name; ATLAS 4.9 renamed it {current!r}."
                )
        if entry.framework == "ATLAS" and given == _squash(current.replace("AI", "ML")):
            raise FrameworkIdError(
                f"{entry.id}: {name!r} is a pre-4.9 name ('ML' became 'AI' in ATLAS 4.9); "
                f"write {current!r}."
            )
        message = f"{entry.id} is {current!r}, not {name!r}."
        other = self._entry_for_name(name, exclude=entry.id)
        if other is not None:
            message += f" Did you mean {other.id} {self.full_name(other.id)!r}?"
        if entry.note:
            message += f" Note: {entry.note}"
        raise FrameworkIdError(message)

    def _entry_for_name(self, name: str, exclude: str | None = None) -> Entry | None:
        """The entry whose current or former name is closest to ``name`` (None if none is close)."""
        given = _squash(name)
        words = _tokens(name) - {"ml", "ai", "model", "attack"}
        best, best_score = None, 0.0
        for entry in self.entries.values():
            if entry.id == exclude:
                continue
            for candidate in (entry.name, self.full_name(entry.id), *entry.former_names):
                score = difflib.SequenceMatcher(None, given, _squash(candidate)).ratio()
                cand_words = _tokens(candidate) - {"ml", "ai", "model", "attack"}
                if words and cand_words:
                    score = max(score, len(words & cand_words) / len(words | cand_words))
                if score > best_score:
                    best, best_score = entry, score
        return best if best_score >= 0.5 else None

    def _unknown_message(self, canonical: str, name: str | None) -> str:
        kind = "ATLAS" if canonical.startswith("AML.") else "OWASP"
        message = f"{canonical} is not in the course's {kind} catalogue"
        if kind == "ATLAS" and int(canonical[5:9]) >= 1000:
            message += " (ids like T1059 are MITRE ATT&CK techniques, not ATLAS ones)"
        if canonical.startswith("ML") and not canonical.endswith(":2023"):
            message += " (the OWASP ML Top 10 has one edition, 2023)"
        if canonical.startswith("LLM") and not canonical.endswith(":2025"):
            message += " (the course uses the 2025 OWASP LLM Top 10)"
        message += "."
        if name is not None:
            match = self._entry_for_name(name)
            if match is not None:
                return f"{message} {name!r} is {match.id} {self.full_name(match.id)!r}."
        close = difflib.get_close_matches(canonical, list(self.entries), n=3, cutoff=0.75)
        if close:
            shown = ", ".join(f"{c} {self.full_name(c)!r}" for c in close)
            message += f" Nearest ids: {shown}."
        return (
            message + " Look ids up with catalogue().search('words'); the catalogue follows "
            f"ATLAS {self.version.get('atlas', '?')}."
        )


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The course's catalogue (read once from the package data)."""
    text = (
        resources.files("threatlab.threatmodel").joinpath("data/catalogue.json").read_text("utf-8")
    )
    raw = json.loads(text)
    entries = {}
    for item in raw["entries"]:
        entry = Entry(
            id=item["id"],
            name=item["name"],
            kind=item["kind"],
            parent=item.get("parent"),
            former_names=tuple(item.get("former_names", ())),
            note=item.get("note"),
            source=item.get("source", "frameworks.md"),
        )
        entries[entry.id] = entry
    return Catalogue(version=raw["version"], entries=entries, superseded=raw.get("superseded", {}))


def validate_id(ident: str, name: str | None = None, *, strict: bool = True) -> Entry:
    """Check one ATLAS/OWASP id (and optionally its name) against the course catalogue."""
    return catalogue().validate(ident, name, strict=strict)


def id_problems(ids: Iterable[str] | Mapping[str, str], *, strict: bool = True) -> list[str]:
    """Every problem with a list of ids (or id -> name mapping); empty when all are valid."""
    return catalogue().problems(ids, strict=strict)
