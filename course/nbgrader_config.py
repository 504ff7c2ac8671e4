"""nbgrader configuration for the ThreatLab course (run nbgrader from this folder).

Layout: ``solutions/<lab>/<lab>.ipynb`` is nbgrader's *source* and ``labs/<lab>/<lab>.ipynb`` its
*release*; submissions, autograded copies, feedback and the gradebook live here in ``course/``
and are git-ignored.
"""

import os
import warnings
from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbgrader.converters import Autograde
from nbgrader.preprocessors import ClearHiddenTests, Execute, GetGrades

from threatlab.grader.preprocessors import WarningsAreNotFailures

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

HERE = Path(__file__).resolve().parent

c.CourseDirectory.course_id = "threatlab"
c.CourseDirectory.root = str(HERE)
c.CourseDirectory.source_directory = "../solutions"
c.CourseDirectory.release_directory = "../labs"
c.CourseDirectory.db_url = f"sqlite:///{HERE / 'gradebook.db'}"

# Every notebook run by the grader uses FAST mode: each lab's `parameters` cell reads this.
# Forced, not defaulted, so a shell that exported THREATLAB_FAST=0 cannot slow a grading run.
os.environ["THREATLAB_FAST"] = "1"
os.environ["THREATLAB_QUIET"] = "1"

# nbgrader's 30 s per cell is too short for training a model on a 2-core CPU.
c.Execute.timeout = 300

# A warning on stderr is not a failed test (nbgrader would score the cell 0): the assertions decide.
_steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
c.Autograde.autograde_preprocessors = (
    _steps[: _steps.index(Execute) + 1]
    + [WarningsAreNotFailures]
    + _steps[_steps.index(Execute) + 1 :]
)

# Feedback must never show hidden tests.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

# SQLAlchemy 2.x warns "Object ... not in session" on first grading; results are correct.
warnings.filterwarnings("ignore", message=r".*not in session.*")
