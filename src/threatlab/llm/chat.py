"""Chat calls: the local model through llama.cpp, or an optional OpenAI-compatible endpoint.

Anything with a ``chat(messages, *, max_tokens=128, stop=None) -> str`` method is a
:class:`ChatModel`: the local model, the endpoint client, or a scripted fake in a test. Decoding is
greedy (temperature 0, top_k 1) so that a run is reproducible on one machine.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any, Protocol, runtime_checkable

from . import registry
from .registry import model_spec
from .store import model_path

ENDPOINT_ENV = "THREATLAB_LLM_ENDPOINT"  # e.g. http://gpu-server:8000/v1 (vLLM, Ollama, llama.cpp)
ENDPOINT_MODEL_ENV = "THREATLAB_LLM_MODEL"  # the model name the endpoint expects
ENDPOINT_KEY_ENV = "THREATLAB_LLM_API_KEY"  # sent as a Bearer token, if set
ENDPOINT_TIMEOUT = 120.0

Message = dict[str, str]


@runtime_checkable
class ChatModel(Protocol):
    """A chat model: a list of ``{"role", "content"}`` messages in, the assistant's reply out."""

    def chat(
        self, messages: list[Message], *, max_tokens: int = 128, stop: list[str] | None = None
    ) -> str:
        """The reply to ``messages`` (roles ``system``, ``user``, ``assistant``), greedy."""
        ...


class EndpointError(RuntimeError):
    """The OpenAI-compatible endpoint named by ``THREATLAB_LLM_ENDPOINT`` cannot be used."""


def _check_messages(messages: list[Message]) -> None:
    if not messages or not all(
        isinstance(m, dict) and m.get("role") in ("system", "user", "assistant") and "content" in m
        for m in messages
    ):
        raise ValueError(
            'messages must be a non-empty list of {"role": "system"|"user"|"assistant", '
            '"content": str} dicts'
        )


class LlamaChatModel:
    """A local GGUF model in llama.cpp (llama-cpp-python), loaded from a verified file."""

    def __init__(self, name: str, *, n_ctx: int = 2048, n_threads: int = 1, seed: int = 0) -> None:
        try:
            import llama_cpp  # lazy: `import threatlab` never needs llama.cpp
        except ImportError as error:
            raise ImportError(
                "llama-cpp-python is not installed in this environment: run `make install` "
                "(it builds llama.cpp once, ~5 min) or set THREATLAB_LLM_ENDPOINT."
            ) from error
        self.name = name
        self.path = model_path(name)  # verified: hash and GGUF header, before llama.cpp sees it
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.llama = llama_cpp.Llama(
            model_path=str(self.path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            seed=seed,
            verbose=False,
        )

    def chat(
        self, messages: list[Message], *, max_tokens: int = 128, stop: list[str] | None = None
    ) -> str:
        """Greedy reply (temperature 0, top_k 1), the GGUF's own chat template applied.

        llama.cpp keeps the KV cache of the previous prompt and evaluates only what differs from
        it, so calls that share a system prompt skip re-reading it (about 1.8x faster in Lab 09).
        The reply is the same as from an empty cache: each token's keys and values are computed
        from that token and the ones before it (tests/test_llm.py checks it on real prompts).
        """
        _check_messages(messages)
        out = self.llama.create_chat_completion(
            messages=messages,
            temperature=0.0,
            top_k=1,
            max_tokens=max_tokens,
            stop=stop or None,
        )
        return out["choices"][0]["message"]["content"] or ""

    def __repr__(self) -> str:
        return f"LlamaChatModel({self.name!r}, n_ctx={self.n_ctx}, n_threads={self.n_threads})"


class EndpointChatModel:
    """A client of an OpenAI-compatible ``/chat/completions`` endpoint (vLLM, Ollama, llama.cpp's
    server), through urllib. An endpoint that cannot be reached raises :class:`EndpointError`
    with one line saying so; nothing falls back to the local model."""

    def __init__(self, base_url: str, model: str, *, api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key

    def _request(
        self, route: str, body: dict[str, Any] | None = None, *, timeout: float = ENDPOINT_TIMEOUT
    ) -> dict[str, Any]:
        """GET (no body) or POST JSON to ``base_url + route``; one-line :class:`EndpointError`."""
        url = f"{self.base_url}{route}"
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(  # noqa: S310 - the instructor's configured endpoint
            url, data=data, headers=headers, method="GET" if body is None else "POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310
                return json.loads(reply.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", errors="replace")[:200].replace("\n", " ")
            raise EndpointError(
                f"{ENDPOINT_ENV}={self.base_url}: HTTP {error.code} from {url}: {detail}"
            ) from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise EndpointError(
                f"{ENDPOINT_ENV}={self.base_url} is unreachable ({reason}); start the server or "
                f"unset {ENDPOINT_ENV} to use the local model."
            ) from None

    def check(self, timeout: float = 10.0) -> None:
        """Reach the endpoint (``GET /models``) now, so that a wrong URL fails at load, not later."""
        self._request("/models", timeout=timeout)

    def chat(
        self, messages: list[Message], *, max_tokens: int = 128, stop: list[str] | None = None
    ) -> str:
        """Greedy reply (temperature 0) from the endpoint's ``/chat/completions``."""
        _check_messages(messages)
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0,
            "top_p": 1,
            "seed": 0,
        }
        if stop:
            body["stop"] = stop
        reply = self._request("/chat/completions", body)
        try:
            return reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise EndpointError(
                f"{ENDPOINT_ENV}={self.base_url}: not an OpenAI chat completion: {str(reply)[:200]}"
            ) from None

    def __repr__(self) -> str:
        return f"EndpointChatModel({self.base_url!r}, model={self.model!r})"


_cache: dict[tuple[str, int], ChatModel] = {}


def load_chat_model(
    name: str | None = None, *, n_ctx: int = 2048, n_threads: int = 1, seed: int = 0
) -> ChatModel:
    """The chat model ``name`` (default :data:`DEFAULT_MODEL`), loaded once per process.

    Local: the verified GGUF file (see :func:`model_path`) in llama.cpp with ``n_ctx`` tokens of
    context on ``n_threads`` threads (1 is fastest on a busy 2-core machine); cached per
    ``(name, n_ctx)`` (a later call with other ``n_threads`` or ``seed`` gets the cached model;
    :func:`unload_models` forgets it). If ``THREATLAB_LLM_ENDPOINT`` is set, an :class:`EndpointChatModel` for that
    OpenAI-compatible server instead (model ``THREATLAB_LLM_MODEL``, default ``name``).
    """
    spec = model_spec(name or registry.DEFAULT_MODEL)  # read at call time
    endpoint = os.environ.get(ENDPOINT_ENV, "").strip()
    if endpoint:
        model = os.environ.get(ENDPOINT_MODEL_ENV, "").strip() or spec.name
        client = EndpointChatModel(endpoint, model, api_key=os.environ.get(ENDPOINT_KEY_ENV))
        client.check()
        return client
    key = (spec.name, n_ctx)
    if key not in _cache:
        _cache[key] = LlamaChatModel(spec.name, n_ctx=n_ctx, n_threads=n_threads, seed=seed)
    return _cache[key]


def unload_models() -> None:
    """Forget every cached model (frees its memory once nothing else refers to it)."""
    for model in _cache.values():
        llama = getattr(model, "llama", None)
        if llama is not None:
            llama.close()
    _cache.clear()
