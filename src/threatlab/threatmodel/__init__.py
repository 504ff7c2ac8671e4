"""Threat modeling of ML systems as code: ATLAS/OWASP catalogue, ML threats for pytm, risk register.

Labs import what they need explicitly::

    from threatlab.threatmodel import catalogue, new_model, ml_findings, render_dfd, RiskRegister
"""

from .catalogue import Catalogue, Entry, FrameworkIdError, catalogue, id_problems, validate_id
from .checks import (
    REQUIRED_THREATS,
    ModelView,
    attachments_from_findings,
    attachments_from_mapping,
    coverage,
    coverage_problems,
    structure_problems,
)
from .mlthreats import (
    GRAPHVIZ_HELP,
    ML_ROLES,
    GraphvizMissingError,
    MLFinding,
    MLThreat,
    dfd_source,
    graphviz_dot,
    ml_findings,
    ml_threats,
    model_elements,
    new_model,
    render_dfd,
    role_problems,
)
from .register import Risk, RiskRegister

__all__ = [
    "GRAPHVIZ_HELP",
    "ML_ROLES",
    "REQUIRED_THREATS",
    "Catalogue",
    "Entry",
    "FrameworkIdError",
    "GraphvizMissingError",
    "MLFinding",
    "MLThreat",
    "ModelView",
    "Risk",
    "RiskRegister",
    "attachments_from_findings",
    "attachments_from_mapping",
    "catalogue",
    "coverage",
    "coverage_problems",
    "dfd_source",
    "graphviz_dot",
    "id_problems",
    "ml_findings",
    "ml_threats",
    "model_elements",
    "new_model",
    "render_dfd",
    "role_problems",
    "structure_problems",
    "validate_id",
]
