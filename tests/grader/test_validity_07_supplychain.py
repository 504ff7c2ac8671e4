"""Grading validity of Lab 07 (model supply chain), graded from the student's contracts (validity.py).

Six graded functions: ``pickle_globals`` and ``scan_pickle`` (§2), ``convert_to_safetensors`` and
``load_weights`` (§3), ``verify_artifacts`` and ``verify_release`` (§4). Each section has a 1-point
test cell for the bad-input ``ValueError``s (``test_scanner_input``, ``test_loader_input``,
``test_verifier_input``); the behaviour cells carry the other points.

Three submissions keep the run short (each is one FAST run of the notebook): one answers all six
functions with alternative correct implementations written from the docstrings; two combine
plausible mistakes, chosen so that each mistake's test cell does not depend on another mistaken
function (a wrong ``convert_to_safetensors`` that runs the payload also fails ``test_load_weights``,
so no ``load_weights`` mistake shares its submission).
"""

from __future__ import annotations

import pytest
from validity import Variant, answer, validity_tests

LAB = "07-supplychain"
pytestmark = [pytest.mark.notebook, pytest.mark.validity]

PICKLE_GLOBALS = answer(
    '''
    def pickle_globals(data):
        """Walk the opcodes, remembering the string on top of the stack and what the memo holds."""
        if type(data) not in (bytes, bytearray):
            raise ValueError("pickle_globals expects the bytes of a pickle")
        text_ops = {
            "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE",
            "SHORT_BINUNICODE", "BINUNICODE8",
        }
        try:
            ops = list(pickletools.genops(data))
        except Exception as exc:
            raise ValueError(f"incomplete or invalid pickle: {exc}") from None
        memo, pushed, result = {}, [], []
        top = None  # the string the last pushing opcode left on the stack, if it was one
        for op, arg, _pos in ops:
            kind = op.name
            if kind == "MEMOIZE":
                memo[len(memo)] = top
                continue
            if kind in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = top
                continue
            if kind in text_ops:
                top = arg
            elif kind in ("GET", "BINGET", "LONG_BINGET") and isinstance(memo.get(arg), str):
                top = memo[arg]
            else:
                top = None
            if top is not None:
                pushed.append(top)
            if kind in ("GLOBAL", "INST"):
                module, name = arg.split(" ", 1)
                result.append((module, name))
            elif kind == "STACK_GLOBAL":
                result.append((pushed[-2], pushed[-1]) if len(pushed) > 1 else ("?", "?"))
        return list(dict.fromkeys(result))
    '''
)

SCAN_PICKLE = answer(
    '''
    def scan_pickle(path, allowed=None):
        """Collect every pickle's globals, then apply one predicate per policy."""
        p = Path(path)
        if not p.exists() or p.is_dir():
            raise ValueError(f"no such file: {p}")
        pickles = {}
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as z:
                for member in z.namelist():
                    if member.endswith(".pkl"):
                        pickles[member] = z.read(member)
            if not pickles:
                raise ValueError(f"{p} holds no .pkl member")
        else:
            pickles[p.name] = p.read_bytes()
        names = sorted({f"{m}.{n}" for blob in pickles.values() for m, n in pickle_globals(blob)})

        def bad(full):
            if allowed is not None:
                return full not in allowed
            if full in DENY_GLOBALS:
                return True
            module = full.rpartition(".")[0]
            return module in DENY_MODULES or module.partition(".")[0] in DENY_MODULES

        flagged = [g for g in names if bad(g)]
        return {"pickles": sorted(pickles), "globals": names, "flagged": flagged, "safe": not flagged}
    '''
)

CONVERT = answer(
    '''
    def convert_to_safetensors(src, dst):
        """Weights-only load, unwrap 'state_dict' when the top level is not itself a state dict."""
        src = Path(src)
        if not src.is_file():
            raise ValueError(f"missing checkpoint {src}")
        try:
            obj = torch.load(str(src), map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise ValueError(f"refused by the weights-only unpickler: {exc}") from None
        except Exception as exc:
            raise ValueError(f"{src.name} is not a checkpoint: {exc}") from None

        def is_state_dict(d):
            return (
                isinstance(d, dict)
                and all(isinstance(k, str) for k in d)
                and all(torch.is_tensor(v) for v in d.values())
            )

        if not is_state_dict(obj):
            obj = obj.get("state_dict") if isinstance(obj, dict) else None
            if not is_state_dict(obj):
                raise ValueError("the checkpoint does not hold a state dict")
        tensors = {name: t.detach().clone().contiguous() for name, t in obj.items()}
        save_file(tensors, str(dst))
        return sorted(tensors)
    '''
)

LOAD_WEIGHTS = answer(
    '''
    def load_weights(path, model):
        """Compare the file with the model in the model's own key order; no sorting, no 'weight'."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
        try:
            tensors = load_file(str(path))
        except Exception as exc:
            raise ValueError(f"{path} is not safetensors ({exc})") from None
        own = model.state_dict()
        missing = [k for k in own if k not in tensors]
        extra = [k for k in tensors if k not in own]
        wrong = [
            k
            for k in own
            if k in tensors and (tensors[k].shape, tensors[k].dtype) != (own[k].shape, own[k].dtype)
        ]
        problems = [
            f"{label} {', '.join(keys)}"
            for label, keys in (("missing", missing), ("unexpected", extra), ("mismatched", wrong))
            if keys
        ]
        if problems:
            raise ValueError("refusing the file: " + "; ".join(problems))
        model.load_state_dict(tensors)
        return model
    '''
)

VERIFY_ARTIFACTS = answer(
    '''
    def verify_artifacts(manifest, root):
        """Validate everything first, then hash each file with hashlib in 64 KiB chunks."""
        base = Path(root)
        if not base.is_dir():
            raise ValueError("root must be an existing folder")
        if not isinstance(manifest, dict):
            raise ValueError("manifest must be a dict")
        arts, sets = manifest.get("artifacts"), manifest.get("datasets", {})
        for table in (arts, sets):
            if not isinstance(table, dict) or any(
                not isinstance(k, str) or not isinstance(v, str) for k, v in table.items()
            ):
                raise ValueError("artifacts and datasets must map str to str")
        for rel in arts:
            if os.path.isabs(rel) or ".." in rel.replace("\\\\", "/").split("/"):
                raise ValueError(f"{rel} escapes the release folder")
        bad = []
        for rel, digest in arts.items():
            target = base / rel
            if not target.is_file():
                bad.append(rel)
                continue
            h = hashlib.sha256()
            with open(target, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 16), b""):
                    h.update(chunk)
            if h.hexdigest() != digest:
                bad.append(rel)
        for name, digest in sets.items():
            try:
                ok = dataset_entry(name)["sha256"] == digest
            except KeyError:
                ok = False
            if not ok:
                bad.append("dataset:" + name)
        return sorted(bad)
    '''
)

VERIFY_RELEASE = answer(
    '''
    def verify_release(root, public_key):
        """Key type first; a missing signature file is an invalid signature."""
        if not isinstance(public_key, Ed25519PublicKey):
            raise ValueError("public_key must be an Ed25519PublicKey")
        folder = Path(root)
        if not folder.is_dir():
            raise ValueError("root must be an existing folder")
        manifest_path = folder / "manifest.json"
        if not manifest_path.exists():
            return ["manifest.json"]
        blob = manifest_path.read_bytes()
        try:
            public_key.verify((folder / "manifest.sig").read_bytes(), blob)
        except (FileNotFoundError, InvalidSignature):
            return ["manifest.sig"]
        try:
            return verify_artifacts(json.loads(blob.decode("utf-8")), folder)
        except ValueError:  # bad JSON, bad UTF-8, or a manifest verify_artifacts refuses
            return ["manifest.json"]
    '''
)

# Mistakes -------------------------------------------------------------------------------------

MEMO_BLIND_PICKLE_GLOBALS = answer(
    '''
    def pickle_globals(data):
        """Ignores the memo: a BINGET of 'builtins' is not seen as a pushed string."""
        if not isinstance(data, (bytes, bytearray)):
            raise ValueError("bytes expected")
        text_ops = {
            "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE",
            "SHORT_BINUNICODE", "BINUNICODE8",
        }
        found, strings = [], []
        for op, arg, _ in pickletools.genops(data):
            if op.name in text_ops:
                strings.append(arg)
            elif op.name in ("GLOBAL", "INST"):
                pair = tuple(arg.split(" ", 1))
                if pair not in found:
                    found.append(pair)
            elif op.name == "STACK_GLOBAL":
                pair = (strings[-2], strings[-1]) if len(strings) >= 2 else ("?", "?")
                if pair not in found:
                    found.append(pair)
        return found
    '''
)

CONVERT_UNSAFE = answer(
    '''
    def convert_to_safetensors(src, dst):
        """Follows torch's error message: loads with weights_only=False, which runs the payload."""
        src = Path(src)
        if not src.is_file():
            raise ValueError(f"missing checkpoint {src}")
        try:
            obj = torch.load(src, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ValueError(f"cannot load {src.name}: {exc}") from None
        if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
            obj = obj["state_dict"]
        if not isinstance(obj, dict) or not all(
            isinstance(k, str) and torch.is_tensor(v) for k, v in obj.items()
        ):
            raise ValueError("not a state dict")
        save_file({k: v.detach().clone().contiguous() for k, v in obj.items()}, dst)
        return sorted(obj)
    '''
)

VERIFY_ARTIFACTS_TRAVERSAL = answer(
    '''
    def verify_artifacts(manifest, root):
        """Checks types but joins any path under root: '../x' and '/etc/...' are hashed, not refused."""
        root = Path(root)
        if not root.is_dir():
            raise ValueError("root must be a folder")
        if not isinstance(manifest, dict) or not isinstance(manifest.get("artifacts"), dict):
            raise ValueError("manifest needs an artifacts dict")
        datasets = manifest.get("datasets", {})
        if not isinstance(datasets, dict):
            raise ValueError("datasets must be a dict")
        for table in (manifest["artifacts"], datasets):
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
                raise ValueError("str -> str expected")
        problems = [
            name
            for name, digest in manifest["artifacts"].items()
            if not (root / name).is_file() or sha256_file(root / name) != digest
        ]
        for name, digest in datasets.items():
            try:
                if dataset_entry(name)["sha256"] != digest:
                    problems.append(f"dataset:{name}")
            except KeyError:
                problems.append(f"dataset:{name}")
        return sorted(problems)
    '''
)

PICKLE_GLOBALS_NO_TYPE_CHECK = answer(
    '''
    def pickle_globals(data):
        """Correct on pickles, but hands anything to pickletools: a str or None raises TypeError or
        AttributeError, not the promised ValueError."""
        string_ops = {
            "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE",
            "SHORT_BINUNICODE", "BINUNICODE8",
        }
        memo, seen, order, last = {}, [], [], None
        for op, arg, _ in pickletools.genops(data):  # pickletools raises ValueError on bad bytes
            if op.name == "MEMOIZE":
                memo[len(memo)] = last
            elif op.name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = last
            else:
                if op.name in string_ops:
                    last = arg
                elif op.name in ("GET", "BINGET", "LONG_BINGET"):
                    last = memo.get(arg) if isinstance(memo.get(arg), str) else None
                else:
                    last = None
                if last is not None:
                    seen.append(last)
                if op.name in ("GLOBAL", "INST"):
                    pair = tuple(arg.split(" ", 1))
                elif op.name == "STACK_GLOBAL":
                    pair = tuple(seen[-2:]) if len(seen) >= 2 else ("?", "?")
                else:
                    continue
                if pair not in order:
                    order.append(pair)
        return order
    '''
)

SCAN_PICKLE_MODULE_ALLOW_LIST = answer(
    '''
    def scan_pickle(path, allowed=None):
        """Allow-list by module: anything from a module that has one allowed global passes
        (torch.load, because torch.FloatStorage is allowed)."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path} is not a file")
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                members = sorted(n for n in archive.namelist() if n.endswith(".pkl"))
                if not members:
                    raise ValueError("no .pkl member")
                blobs = [archive.read(n) for n in members]
        else:
            members, blobs = [path.name], [path.read_bytes()]
        found = sorted({f"{m}.{n}" for blob in blobs for m, n in pickle_globals(blob)})
        if allowed is None:
            flagged = [
                g
                for g in found
                if g in DENY_GLOBALS
                or g.rsplit(".", 1)[0] in DENY_MODULES
                or g.split(".")[0] in DENY_MODULES
            ]
        else:
            modules = {a.rsplit(".", 1)[0] for a in allowed}
            flagged = [g for g in found if g.rsplit(".", 1)[0] not in modules]
        return {"pickles": members, "globals": found, "flagged": flagged, "safe": not flagged}
    '''
)

LOAD_WEIGHTS_NO_DTYPE = answer(
    '''
    def load_weights(path, model):
        """Checks keys and shapes but not dtypes: load_state_dict then casts float64 silently."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path} is not a file")
        try:
            tensors = load_file(path)
        except Exception as exc:
            raise ValueError(f"not a safetensors file: {exc}") from None
        expected = model.state_dict()
        if set(tensors) != set(expected):
            raise ValueError(
                f"missing {sorted(set(expected) - set(tensors))}, "
                f"unexpected {sorted(set(tensors) - set(expected))}"
            )
        wrong = [k for k in expected if tensors[k].shape != expected[k].shape]
        if wrong:
            raise ValueError(f"wrong shape: {wrong}")
        model.load_state_dict(tensors)
        return model
    '''
)

VERIFY_RELEASE_FAIL_OPEN = answer(
    '''
    def verify_release(root, public_key):
        """Fails open: without manifest.sig it skips the signature and trusts the manifest."""
        root = Path(root)
        if not root.is_dir():
            raise ValueError("root must be a folder")
        if not isinstance(public_key, Ed25519PublicKey):
            raise ValueError("need an Ed25519PublicKey")
        if not (root / "manifest.json").is_file():
            return ["manifest.json"]
        data = (root / "manifest.json").read_bytes()
        if (root / "manifest.sig").is_file():
            try:
                public_key.verify((root / "manifest.sig").read_bytes(), data)
            except InvalidSignature:
                return ["manifest.sig"]
        try:
            return verify_artifacts(json.loads(data), root)
        except ValueError:
            return ["manifest.json"]
    '''
)

VARIANTS = [
    Variant(
        "alternatives",
        {
            "pickle_globals": PICKLE_GLOBALS,
            "scan_pickle": SCAN_PICKLE,
            "convert_to_safetensors": CONVERT,
            "load_weights": LOAD_WEIGHTS,
            "verify_artifacts": VERIFY_ARTIFACTS,
            "verify_release": VERIFY_RELEASE,
        },
        why=(
            "all six written from the docstrings: a top-of-stack tracker for the opcodes, one "
            "predicate per scan policy, state-dict unwrapping by shape, key-order messages that "
            "never say 'weight', chunked hashlib hashing, a missing signature as InvalidSignature"
        ),
    ),
    Variant(
        "mistakes-memo-unsafe-load-traversal",
        {
            "pickle_globals": MEMO_BLIND_PICKLE_GLOBALS,
            "convert_to_safetensors": CONVERT_UNSAFE,
            "verify_artifacts": VERIFY_ARTIFACTS_TRAVERSAL,
        },
        loses=("test_pickle_globals", "test_convert_to_safetensors", "test_verify_artifacts"),
        why=(
            "pickle_globals ignores the memo (a second 'builtins' global comes from BINGET); "
            "convert_to_safetensors loads with weights_only=False and converts the malicious "
            "checkpoint (running its payload); verify_artifacts does not refuse '..' or absolute "
            "paths"
        ),
    ),
    Variant(
        "mistakes-allowlist-dtype-failopen-types",
        {
            "pickle_globals": PICKLE_GLOBALS_NO_TYPE_CHECK,
            "scan_pickle": SCAN_PICKLE_MODULE_ALLOW_LIST,
            "load_weights": LOAD_WEIGHTS_NO_DTYPE,
            "verify_release": VERIFY_RELEASE_FAIL_OPEN,
        },
        loses=(
            "test_scanner_input",
            "test_scan_pickle",
            "test_load_weights",
            "test_verify_release",
        ),
        why=(
            "pickle_globals raises TypeError/AttributeError instead of ValueError on a str or None "
            "(bad input only: 1 point); scan_pickle allows whole modules (any torch.* global "
            "passes); load_weights accepts a float64 tensor for a float32 parameter; "
            "verify_release trusts an unsigned manifest"
        ),
    ),
]

results, test_variant_is_graded_as_expected, test_coverage, test_not_copies = validity_tests(
    LAB, VARIANTS
)
