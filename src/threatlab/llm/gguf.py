"""A pure-Python reader of a GGUF file's header: its key/value metadata, without llama.cpp.

GGUF (llama.cpp's model format) starts with ``b"GGUF"``, a version, the tensor and key counts, then
typed key/value pairs (``general.architecture``, ``general.name``, ``general.license``, the
tokenizer, the chat template ...). GGUF holds tensors and metadata only, never code: reading the
header runs nothing from the file. Lengths in the header are bounded, so a hostile file cannot make
this reader allocate gigabytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAGIC = b"GGUF"
MAX_STRING = 1 << 24  # 16 MiB: a chat template is a few KiB, a token a few bytes
MAX_ITEMS = 1 << 24  # array length / key count bound
SMALL_ARRAY = 64  # arrays up to this length are returned whole; longer ones as GGUFArray

# GGUF value types: id -> (name, struct format or None for string/array).
_TYPES: dict[int, tuple[str, str | None]] = {
    0: ("uint8", "<B"),
    1: ("int8", "<b"),
    2: ("uint16", "<H"),
    3: ("int16", "<h"),
    4: ("uint32", "<I"),
    5: ("int32", "<i"),
    6: ("float32", "<f"),
    7: ("bool", "<?"),
    8: ("string", None),
    9: ("array", None),
    10: ("uint64", "<Q"),
    11: ("int64", "<q"),
    12: ("float64", "<d"),
}


class GGUFError(ValueError):
    """The file is not a well-formed GGUF file (bad magic, version or lengths)."""


@dataclass(frozen=True)
class GGUFArray:
    """A long array in the header (e.g. the 151,936 tokens), summarised by item type and length."""

    item_type: str
    length: int


def _read(handle: BinaryIO, size: int) -> bytes:
    data = handle.read(size)
    if len(data) != size:
        raise GGUFError(f"truncated GGUF header: wanted {size} bytes, got {len(data)}")
    return data


def _unpack(handle: BinaryIO, fmt: str) -> object:
    return struct.unpack(fmt, _read(handle, struct.calcsize(fmt)))[0]


def _string(handle: BinaryIO) -> str:
    length = _unpack(handle, "<Q")
    if length > MAX_STRING:
        raise GGUFError(f"GGUF string of {length} bytes exceeds the {MAX_STRING}-byte bound")
    return _read(handle, length).decode("utf-8", errors="replace")


def _value(handle: BinaryIO, type_id: int) -> object:
    if type_id not in _TYPES:
        raise GGUFError(f"unknown GGUF value type {type_id}")
    name, fmt = _TYPES[type_id]
    if fmt is not None:
        return _unpack(handle, fmt)
    if name == "string":
        return _string(handle)
    item_type = _unpack(handle, "<I")
    length = _unpack(handle, "<Q")
    if item_type == 9 or item_type not in _TYPES:
        raise GGUFError(f"unsupported GGUF array item type {item_type}")
    if length > MAX_ITEMS:
        raise GGUFError(f"GGUF array of {length} items exceeds the {MAX_ITEMS}-item bound")
    item_name, item_fmt = _TYPES[item_type]
    if length > SMALL_ARRAY:
        if item_fmt is not None:  # fixed-size items: skip in one seek
            handle.seek(length * struct.calcsize(item_fmt), 1)
        else:
            for _ in range(length):
                handle.seek(_unpack(handle, "<Q"), 1)
        return GGUFArray(item_name, int(length))
    return [_value(handle, item_type) for _ in range(length)]


def gguf_metadata(path: str | Path) -> dict[str, object]:
    """The key/value metadata of a GGUF file's header, read without llama.cpp.

    Keys are GGUF's dotted names (``general.architecture``, ``general.name``, ``general.license``,
    ``<arch>.context_length``, ``tokenizer.chat_template`` ...), plus ``gguf.version`` and
    ``gguf.tensor_count``. Arrays longer than 64 items (the vocabulary) come back as
    :class:`GGUFArray` (item type and length). Raises :class:`GGUFError` on a file that is not GGUF.
    """
    with open(path, "rb", buffering=1 << 16) as handle:
        magic = handle.read(4)
        if magic != MAGIC:
            raise GGUFError(f"{path} is not a GGUF file (starts with {magic!r}, not {MAGIC!r})")
        version = _unpack(handle, "<I")
        if version not in (2, 3):
            raise GGUFError(f"{path}: unsupported GGUF version {version}")
        tensor_count = _unpack(handle, "<Q")
        kv_count = _unpack(handle, "<Q")
        if kv_count > MAX_ITEMS:
            raise GGUFError(f"{path}: {kv_count} metadata keys exceeds the bound")
        metadata: dict[str, object] = {"gguf.version": version, "gguf.tensor_count": tensor_count}
        for _ in range(kv_count):
            key = _string(handle)
            metadata[key] = _value(handle, _unpack(handle, "<I"))
    return metadata
