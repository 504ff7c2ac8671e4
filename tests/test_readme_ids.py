"""Every lab's ATLAS/OWASP ids (notebook metadata, the README's lab table, the lab text) exist in the catalogue.

The README's lab table is generated from each solution notebook's ``threatlab`` metadata (``make
readme``), so validating the metadata validates the table; the table itself is checked too, and
so is every id the labs' markdown mentions. One catalogue (threatlab.threatmodel) is the authority.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from threatlab.course import lab_ids, solution_path
from threatlab.threatmodel import catalogue, id_problems

ROOT = Path(__file__).resolve().parents[1]
ID_PATTERN = re.compile(r"\b(AML\.[TM]\d{4}(?:\.\d{3})?|(?:ML|LLM)\d{2}:\d{4})\b")
LABS = lab_ids(ROOT)


def metadata(lab: str) -> dict:
    nb = json.loads(solution_path(lab, ROOT).read_text(encoding="utf-8"))
    return nb["metadata"]["threatlab"]


@pytest.mark.parametrize("lab", LABS)
def test_lab_metadata_ids_are_in_the_catalogue(lab):
    meta = metadata(lab)
    atlas, owasp = meta.get("atlas", []), meta.get("owasp", [])
    assert atlas or owasp, f"{lab}: the threatlab metadata lists no ATLAS or OWASP id"
    problems = id_problems(list(atlas) + list(owasp))
    assert not problems, f"{lab}: " + "; ".join(problems)
    cat = catalogue()
    misplaced = [i for i in atlas if cat[i].framework != "ATLAS"]
    misplaced += [i for i in owasp if cat[i].framework != "OWASP"]
    assert not misplaced, f"{lab}: {misplaced} listed under the wrong framework"
    assert len(set(atlas)) == len(atlas) and len(set(owasp)) == len(owasp), f"{lab}: duplicate ids"


@pytest.mark.parametrize("lab", LABS)
def test_ids_in_the_lab_text_are_in_the_catalogue(lab):
    nb = json.loads(solution_path(lab, ROOT).read_text(encoding="utf-8"))
    text = "\n".join(
        "".join(cell["source"]) for cell in nb["cells"] if cell["cell_type"] == "markdown"
    )
    problems = id_problems(sorted(set(ID_PATTERN.findall(text))))
    assert not problems, f"{lab}: " + "; ".join(problems)


def test_readme_lab_table_ids_are_in_the_catalogue():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- labs:start -->(.*?)<!-- labs:end -->", readme, re.S)
    assert match, "README.md has no generated lab table (<!-- labs:start --> ... <!-- labs:end -->)"
    ids = sorted(set(ID_PATTERN.findall(match.group(1))))
    assert ids, "the README lab table shows no ATLAS/OWASP ids"
    problems = id_problems(ids)
    assert not problems, "README lab table: " + "; ".join(problems)
