"""The course pipeline: clean notebooks, labs/ in sync with solutions/, README in sync, lab metadata."""

from __future__ import annotations

import re

import nbformat
import pytest

from threatlab.course import (
    LAB_ID,
    canonical,
    lab_ids,
    lab_metadata,
    labs_out_of_sync,
    notebook_problems,
    readme_table,
    readme_with_table,
    repo_root,
    repository_slug,
    solution_path,
    student_path,
    write_notebook,
)

LABS = lab_ids()
ATLAS_ID = re.compile(r"^AML\.(T\d{4}(\.\d{3})?|M\d{4})$")
OWASP_ID = re.compile(r"^(ML(0[1-9]|10):2023|LLM(0[1-9]|10):2025)$")


@pytest.mark.parametrize("lab", LABS)
def test_solution_notebook_is_clean(lab):
    """The authored notebook has no outputs, a parameters cell, lab metadata and unique grade ids."""
    assert notebook_problems(solution_path(lab), authored=True) == []


@pytest.mark.parametrize("lab", LABS)
def test_student_notebook_is_clean(lab):
    """The committed student version carries no outputs and no hidden tests or solutions."""
    path = student_path(lab)
    assert notebook_problems(path, authored=False) == []
    text = path.read_text(encoding="utf-8")
    for marker in ("BEGIN HIDDEN TESTS", "BEGIN SOLUTION", "END SOLUTION"):
        assert marker not in text, f"{path} still contains {marker!r}: regenerate with `make labs`"


def test_labs_are_in_sync_with_solutions():
    """labs/ is exactly what `make labs` generates from solutions/ now (never hand-edited)."""
    assert labs_out_of_sync() == []


def test_readme_lab_table_is_current():
    """The README's lab table is generated from notebook metadata (`make readme`)."""
    readme = (repo_root() / "README.md").read_text(encoding="utf-8")
    assert readme_with_table(readme, readme_table()) == readme, "run `make readme`"


def test_readme_puts_the_two_commands_first():
    """A newcomer meets `make lab` and `make test` before anything else."""
    readme = (repo_root() / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```")[1]
    assert "make lab" in first_block and "make test" in first_block


@pytest.mark.parametrize("lab", LABS)
def test_lab_metadata_uses_real_framework_ids(lab):
    """Titles, times and ATLAS/OWASP ids in the shape the frameworks publish them."""
    meta = lab_metadata(lab)
    assert LAB_ID.match(lab)
    assert meta["title"] and meta["topic"]
    assert isinstance(meta["minutes"], int) and 5 <= meta["minutes"] <= 240
    for atlas in meta["atlas"]:
        assert ATLAS_ID.match(atlas), f"{lab}: {atlas!r} is not an ATLAS id like AML.T0015"
    for owasp in meta["owasp"]:
        assert OWASP_ID.match(owasp), f"{lab}: {owasp!r} is not an OWASP id like ML01:2023"


def test_launch_links_use_one_repository_slug():
    """Every Binder link is built from [tool.threatlab] learner-repository and opens the lab itself."""
    slug = repository_slug()
    table = readme_table()
    for lab in LABS:
        assert f"mybinder.org/v2/gh/{slug}/HEAD?labpath=labs/{lab}/{lab}.ipynb" in table


# ---- the checks themselves catch what they claim to catch


def _notebook(*cells, meta=None):
    nb = nbformat.v4.new_notebook(cells=list(cells))
    nb.metadata["threatlab"] = meta or {
        "title": "T",
        "topic": "t",
        "atlas": [],
        "owasp": [],
        "minutes": 10,
    }
    return nb


def _good_cells():
    return [
        nbformat.v4.new_code_cell("from threatlab import *"),
        nbformat.v4.new_code_cell(
            "FAST = fast_default()\nSEED = 0", metadata={"tags": ["parameters"]}
        ),
        nbformat.v4.new_code_cell(
            "assert True",
            metadata={
                "nbgrader": {"grade": True, "grade_id": "t1", "points": 1, "solution": False}
            },
        ),
        nbformat.v4.new_code_cell("report(x=1)"),
    ]


def test_a_clean_notebook_passes(tmp_path):
    path = tmp_path / "nb.ipynb"
    write_notebook(_notebook(*_good_cells()), path)
    assert notebook_problems(path, authored=True) == []


def test_outputs_are_flagged(tmp_path):
    nb = _notebook(*_good_cells())
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="hi")]
    nb.cells[0].execution_count = 3
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    assert any("canonical form" in p for p in notebook_problems(path, authored=False))
    assert canonical(nb).cells[0].outputs == []


def test_missing_parameters_and_report_are_flagged(tmp_path):
    cells = _good_cells()
    path = tmp_path / "nb.ipynb"
    write_notebook(_notebook(cells[0], cells[2]), path)
    problems = " ".join(notebook_problems(path, authored=True))
    assert "parameters" in problems and "report(" in problems


def test_duplicate_grade_ids_and_pointless_tests_are_flagged(tmp_path):
    cells = _good_cells()
    twin = nbformat.v4.new_code_cell(
        "assert 1", metadata={"nbgrader": {"grade": True, "grade_id": "t1", "points": 0}}
    )
    path = tmp_path / "nb.ipynb"
    write_notebook(_notebook(*cells, twin), path)
    problems = " ".join(notebook_problems(path, authored=True))
    assert "duplicate" in problems and "no points" in problems


def test_unreadable_notebook_is_reported(tmp_path):
    path = tmp_path / "nb.ipynb"
    path.write_text("{not json", encoding="utf-8")
    assert notebook_problems(path, authored=True)


def test_readme_without_markers_is_an_error():
    with pytest.raises(ValueError, match="labs:start"):
        readme_with_table("# no table here", "| table |")


def test_papermill_noise_about_the_computed_fast_default_is_dropped():
    """``FAST = fast_default()`` cannot be parsed by papermill: its two warnings are expected."""
    import logging

    from threatlab.course.execution import _ComputedParameterDefaults

    quiet = _ComputedParameterDefaults()

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("papermill", logging.WARNING, __file__, 1, message, None, None)

    assert not quiet.filter(record("Unable to parse line 1 'FAST = fast_default()'."))
    assert not quiet.filter(record("Passed unknown parameter: FAST"))
    assert quiet.filter(record("Passed unknown parameter: SEEDS"))  # a real mistake still shows
    assert quiet.filter(record("Executing notebook with kernel: python3"))


def test_kernel_messages_are_polled_in_short_slices(monkeypatch):
    """A reply a missed zmq wake-up hides is found on the next short poll, not at the timeout;
    a real timeout still raises Empty at the same deadline."""
    import asyncio
    import queue
    import time

    from jupyter_client.channels import AsyncZMQSocketChannel

    from threatlab.course import poll_in_slices

    asked: list[float | None] = []

    async def hidden_for_three_polls(self, timeout=None):
        asked.append(timeout)
        if len(asked) <= 3:
            await asyncio.sleep(min(timeout, 0.05))  # the reply is queued, the wake-up missed
            raise queue.Empty
        return {"msg_type": "execute_reply"}

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", hidden_for_three_polls)
    channel = object.__new__(AsyncZMQSocketChannel)
    with poll_in_slices(slice_seconds=0.05):
        assert asyncio.run(channel.get_msg(timeout=900))["msg_type"] == "execute_reply"
        assert len(asked) == 4 and all(t <= 0.05 for t in asked)
        asked.clear()
        start = time.monotonic()
        with pytest.raises(queue.Empty):
            asyncio.run(channel.get_msg(timeout=0.12))  # never answered: Empty at the deadline
        assert 0.1 <= time.monotonic() - start < 0.5
    assert AsyncZMQSocketChannel.get_msg is hidden_for_three_polls  # restored on exit


# ---- one source for each fact: generated tables and the consistency checks


def test_table_ids_reads_the_id_rows_and_expands_shorthand():
    from threatlab.course.check import table_ids

    model = (
        "| | |\n|---|---|\n"
        "| **Knowledge** | white-box (AML.T0044 Full AI Model Access) |\n"
        "| **MITRE ATLAS** | AML.T0010 AI Supply Chain Compromise (.002 Data, .003 Model); AML.T0018 |\n"
        "| **OWASP** | ML06:2023; LLM03:2025 |\n"
        "| **Mitigations studied** | AML.M0014 Verify AI Artifacts |\n"
    )
    assert table_ids(model) == {
        "AML.T0010",
        "AML.T0010.002",
        "AML.T0010.003",
        "AML.T0018",
        "ML06:2023",
        "LLM03:2025",
        "AML.M0014",
    }, "ids outside the ATLAS/OWASP/mitigation rows (Knowledge) are context, not declarations"


def _lab_with(tmp_path, heading: str, atlas_row: str, meta_atlas: list[str]):
    """A one-lab course folder whose notebook has this heading and ATLAS row."""
    import shutil

    root = tmp_path / "course-copy"
    (root / "solutions" / "01-x").mkdir(parents=True)
    for name in ("pyproject.toml",):
        shutil.copyfile(repo_root() / name, root / name)
    (root / "course").mkdir()
    (root / "course" / "nbgrader_config.py").write_text("", encoding="utf-8")
    nb = _notebook(
        nbformat.v4.new_markdown_cell(
            f"# {heading}\n\n## Threat model\n\n| | |\n|---|---|\n| **MITRE ATLAS** | {atlas_row} |\n"
            "| **OWASP** | ML01:2023 |\n"
        ),
        meta={
            "title": "Evasion",
            "topic": "t",
            "atlas": meta_atlas,
            "owasp": ["ML01:2023"],
            "minutes": 10,
        },
    )
    nbformat.write(nb, root / "solutions" / "01-x" / "01-x.ipynb")
    return root


def test_consistency_check_accepts_agreeing_title_and_ids(tmp_path):
    from threatlab.course.check import lab_consistency_problems

    root = _lab_with(
        tmp_path, "Lab 01 — Evasion: attacks", "AML.T0043 (.000 White-Box)", ["AML.T0043.000"]
    )
    assert lab_consistency_problems("01-x", root) == [], "a parent named for context is fine"


def test_consistency_check_flags_another_title_and_undeclared_or_missing_ids(tmp_path):
    from threatlab.course.check import lab_consistency_problems

    root = _lab_with(
        tmp_path, "Lab 01 — Exfiltration I", "AML.T0015; AML.T0019", ["AML.T0015", "AML.M0003"]
    )
    problems = "\n".join(lab_consistency_problems("01-x", root))
    assert "does not carry the title 'Evasion'" in problems
    assert "not in the threat-model table: AML.M0003" in problems
    assert "not in the metadata: AML.T0019" in problems


def test_every_generated_block_is_current_and_every_lab_is_timed():
    """README, syllabus, instructor notes and workshop guide tables: `make readme` output."""
    from threatlab.course.readme import readme_problems

    assert readme_problems() == []


def test_timing_table_marks_what_was_not_measured(tmp_path, monkeypatch):
    from threatlab.course import readme

    monkeypatch.setattr(
        readme,
        "read_timings",
        lambda root=None: {
            ("00-orientation", "fast", "cpu"): {
                "seconds": "6.7",
                "peak_mb": "700",
                "measured": "2026-12-01",
            }
        },
    )
    table = readme.timing_table()
    row = next(line for line in table.splitlines() if line.startswith("| 00 "))
    assert "| 7 s | — |" in row, row
    assert "2026-12-01 to 2026-12-01" in table


def test_recorded_timings_merge_by_lab_mode_and_device(tmp_path):
    from threatlab.course.readme import TIMINGS, read_timings, record_timings

    (tmp_path / "course").mkdir()
    row = {"lab": "00-x", "mode": "fast", "device": "cpu", "seconds": "5.0", "peak_mb": "600"}
    record_timings([row | {"measured": "2026-12-01", "note": "idle"}], tmp_path)
    record_timings([row | {"seconds": "4.0", "measured": "2026-12-02", "note": "idle"}], tmp_path)
    record_timings([row | {"device": "cuda", "seconds": "2.0"}], tmp_path)
    timings = read_timings(tmp_path)
    assert timings["00-x", "fast", "cpu"]["seconds"] == "4.0" and len(timings) == 2
    assert (tmp_path / TIMINGS).read_text(encoding="utf-8").startswith("lab,mode,device")
