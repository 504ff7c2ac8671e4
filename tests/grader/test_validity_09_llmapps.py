"""Grading validity of Lab 09 (LLM application security), graded from the student's contracts (validity.py).

Six graded functions: ``canary_leaked`` (§1), ``is_allowed_url`` and ``filter_output`` (§3),
``gate_tool_call`` and ``execute_plan`` (§4), ``attack_success_rate`` (§5). Their hidden tests use
scripted worst-case models (always obeying the injection) and fresh payloads, so grading does not
depend on the real model's words; the submissions still run the whole notebook, real model included.

Three submissions keep the run short. Each is one FAST run with the real model: 387 s for the
alternatives submission in the bwrap sandbox under load 6-8 on 2 cores (16/16, no finding; the model
file is bound read-only and fits the default 4 GB address-space limit); with the model's prompt
prefix reused between calls (threatlab.llm) a run is about half as long. On a busy machine,
``THREATLAB_VALIDITY_WORKERS=3`` grades the three side by side (5 passed in 461 s that way). One
submission answers all six functions with alternative correct implementations written from
the docstrings; two combine plausible mistakes. ``filter_output`` calls ``is_allowed_url``, so the
mistaken ``is_allowed_url`` also costs ``test_filter_output`` points (allowed: a mistake must lose at
least on the cells it names), and no ``filter_output`` mistake shares its submission.
"""

from __future__ import annotations

import pytest
from validity import Variant, answer, validity_tests

LAB = "09-llmapps"
pytestmark = [pytest.mark.notebook, pytest.mark.validity]

CANARY_LEAKED = answer(
    '''
    def canary_leaked(text, canary):
        """Breadth-first over disguises: each decoded form is checked and decoded again."""
        if type(text) is not str or type(canary) is not str:
            raise ValueError("canary_leaked takes two strings")
        needle = re.sub(r"[\\W_]", "", canary).lower()
        if len(needle) < 6:
            raise ValueError("canary too short")

        def plain(s):
            return re.sub(r"[\\W_]", "", s).lower()

        def decodings(s):
            found = []
            for chunk in re.findall(r"[-_A-Za-z0-9+/]{8,}={0,2}", s):
                core = chunk.rstrip("=").translate(str.maketrans("-_", "+/"))
                for skip in range(4):
                    part = core[skip:]
                    if len(part) % 4 == 1:
                        part = part[:-1]
                    try:
                        raw = base64.b64decode(part + "=" * (-len(part) % 4), validate=False)
                        found.append(raw.decode("utf-8"))
                    except Exception:
                        pass
            for chunk in re.findall(r"[0-9a-fA-F]{12,}", s):
                try:
                    found.append(bytes.fromhex(chunk[: len(chunk) - len(chunk) % 2]).decode("utf-8"))
                except Exception:
                    pass
            return found

        queue, visited = [text], set()
        while queue and len(visited) < 300:
            s = queue.pop(0)
            if s in visited:
                continue
            visited.add(s)
            views = [s, unicodedata.normalize("NFKC", s), urllib.parse.unquote(s), html.unescape(s)]
            for v in views:
                if any(needle in plain(w) for w in (v, v[::-1], codecs.decode(v, "rot_13"))):
                    return True
                queue += views[1:] + decodings(v)
        return False
    '''
)

IS_ALLOWED_URL = answer(
    '''
    def is_allowed_url(url, allowed_hosts):
        """One strict regular expression for the whole URL; anything it does not match is refused."""
        if not isinstance(url, str):
            raise ValueError("url must be a string")
        if isinstance(allowed_hosts, str):
            raise ValueError("give a collection of hosts")
        if any(ord(c) < 33 or ord(c) == 127 or c == "\\\\" for c in url):
            return False
        m = re.fullmatch(r"(?i)https?://([a-z0-9.-]+?)\\.?(?::\\d{1,5})?([/?#][^\\s]*)?", url)
        if not m:
            return False
        return m.group(1).lower() in {h.lower() for h in allowed_hosts}
    '''
)

FILTER_OUTPUT = answer(
    '''
    def filter_output(answer, allowed_hosts):
        """Collect events first, then rebuild: a depth counter hides everything inside a dropped element."""
        if not isinstance(answer, str):
            raise ValueError("answer must be a string")
        hosts = list(allowed_hosts)
        banned = ("script", "style", "iframe", "object", "embed", "link", "meta", "base")
        urlish = ("href", "src", "srcset", "action", "formaction", "poster", "background", "data",
                  "ping", "xlink:href")

        def fine(attr, value):
            if attr == "srcset":
                items = [x.split()[0] for x in value.split(",") if x.strip()]
                return len(items) > 0 and all(is_allowed_url(i, hosts) for i in items)
            return is_allowed_url(value.strip(), hosts)

        class Rebuild(HTMLParser):
            def __init__(self):
                super().__init__(convert_charrefs=True)
                self.parts, self.hidden = [], 0

            def handle_starttag(self, tag, attrs):
                self._tag(tag, attrs, "")

            def handle_startendtag(self, tag, attrs):
                self._tag(tag, attrs, " /")

            def _tag(self, tag, attrs, end):
                if tag in banned:
                    if tag not in ("link", "meta", "base", "embed") and not end:
                        self.hidden += 1
                    return
                if self.hidden:
                    return
                pairs = [(k, v if v is not None else "") for k, v in attrs]
                if tag == "img":
                    src = [v for k, v in pairs if k == "src"]
                    if not src or not fine("src", src[0]):
                        return
                keep = [(k, v) for k, v in pairs if k != "style" and (k not in urlish or fine(k, v))]
                attrs_text = "".join(' %s="%s"' % (k, html.escape(v)) for k, v in keep)
                self.parts.append("<" + tag + attrs_text + end + ">")

            def handle_endtag(self, tag):
                if tag in banned:
                    if tag not in ("link", "meta", "base", "embed") and self.hidden:
                        self.hidden -= 1
                elif not self.hidden and tag != "img":
                    self.parts.append("</%s>" % tag)

            def handle_data(self, data):
                if not self.hidden:
                    self.parts.append(html.escape(data, quote=False))

        r = Rebuild()
        r.feed(render_markdown(answer))
        r.close()
        return "".join(r.parts)
    '''
)

GATE_TOOL_CALL = answer(
    '''
    def gate_tool_call(call, trusted, untrusted):
        """Validate, then look each control value up in the union of trusted value tokens."""
        if not isinstance(call, ToolCall):
            raise ValueError("not a ToolCall")
        if not (isinstance(trusted, list) and isinstance(untrusted, list)):
            raise ValueError("trusted and untrusted must be lists")
        if not all(isinstance(x, str) for x in trusted + untrusted):
            raise ValueError("texts must be str")
        if call.name not in TOOL_SPECS:
            return (False, f"unknown tool {call.name}: refused")
        spec = TOOL_SPECS[call.name]
        if not spec["side_effect"]:
            return (True, f"{call.name} only reads")
        known = set()
        for text in trusted:
            known |= value_tokens(text)
        for name in spec["control"]:
            if name not in call.args:
                return (False, f"{call.name}: control argument {name} missing")
            if call.args[name].strip().casefold() not in known:
                return (False, f"{call.name}: {name}={call.args[name]!r} is not from trusted input")
        return (True, f"{call.name}: control arguments traced to trusted input")
    '''
)

EXECUTE_PLAN = answer(
    '''
    def execute_plan(plan, quarantined, tools, sources):
        """An interpreter with one dispatch per op; a Refused exception stops it."""
        if not isinstance(plan, list) or any(not isinstance(step, dict) for step in plan):
            raise ValueError("plan must be a list of dict steps")
        if not isinstance(sources, dict):
            raise ValueError("sources must be a dict")

        class Refused(Exception):
            pass

        env = {}
        result = {"reply": "", "calls": [], "refused": []}

        def value_of(name):
            if name not in env:
                raise Refused(f"unknown variable {name}")
            return env[name]

        for number, step in enumerate(plan):
            try:
                kind = step.get("op")
                if kind == "read":
                    if step.get("source") not in sources:
                        raise Refused(f"unknown source {step.get('source')}")
                    env[step["out"]] = sources[step["source"]]
                elif kind == "ask":
                    data = value_of(step["input"])
                    env[step["out"]] = quarantined.chat(
                        [{"role": "user", "content": step["prompt"] + "\\n\\n" + data}], max_tokens=64
                    )
                elif kind == "call":
                    if step.get("tool") not in TOOL_SPECS:
                        raise Refused(f"unknown tool {step.get('tool')}")
                    control = TOOL_SPECS[step["tool"]]["control"]
                    args = {}
                    for key, raw in step.get("args", {}).items():
                        if isinstance(raw, str) and raw.startswith("$"):
                            if key in control:
                                raise Refused(f"{key} of {step['tool']} may not come from a variable")
                            args[key] = value_of(raw[1:])
                        else:
                            args[key] = str(raw)
                    call = ToolCall(step["tool"], args)
                    output = tools.call(call)
                    result["calls"].append(call)
                    if "out" in step:
                        env[step["out"]] = output
                elif kind == "reply":
                    result["reply"] = value_of(step["input"])
                else:
                    raise Refused(f"unknown op {kind}")
            except Refused as why:
                result["refused"].append(f"step {number}: {why}")
                break
        return result
    '''
)

ATTACK_SUCCESS_RATE = answer(
    '''
    def attack_success_rate(outcomes):
        """Wilson score interval written as centre +- margin over the inflated denominator."""
        if not isinstance(outcomes, list) or len(outcomes) == 0:
            raise ValueError("need a non-empty list")
        if any(type(x) is not bool for x in outcomes):
            raise ValueError("bools only")
        z2 = 1.96**2
        n = len(outcomes)
        p = outcomes.count(True) / n
        denominator = 1 + z2 / n
        centre = p + z2 / (2 * n)
        margin = 1.96 * ((p * (1 - p) + z2 / (4 * n)) / n) ** 0.5
        return (p, max(0.0, (centre - margin) / denominator), min(1.0, (centre + margin) / denominator))
    '''
)

# Mistakes -------------------------------------------------------------------------------------

CANARY_PLAIN_ONLY = answer(
    '''
    def canary_leaked(text, canary):
        """Ignores separators and case, but decodes nothing (no base64, hex, reversal, ROT13)."""
        if not isinstance(text, str) or not isinstance(canary, str):
            raise ValueError("strings expected")
        core = "".join(c for c in canary.lower() if c.isalnum())
        if len(core) < 6:
            raise ValueError("canary too short")
        return core in "".join(c for c in text.lower() if c.isalnum())
    '''
)

URL_SUBSTRING = answer(
    '''
    def is_allowed_url(url, allowed_hosts):
        """Checks the scheme, then whether an allowed host appears after it: look-alikes pass."""
        if not isinstance(url, str) or isinstance(allowed_hosts, str):
            raise ValueError("bad input")
        if not url.lower().startswith(("http://", "https://")):
            return False
        rest = url.split("://", 1)[1].lower()
        return any(rest.startswith(host.lower()) for host in allowed_hosts)
    '''
)

GATE_DENY_LIST = answer(
    '''
    def gate_tool_call(call, trusted, untrusted):
        """A deny-list: refuses a control value only if untrusted text names it (made-up values pass)."""
        if not isinstance(call, ToolCall) or not isinstance(trusted, list) or not isinstance(untrusted, list):
            raise ValueError("bad input")
        if not all(isinstance(t, str) for t in trusted + untrusted):
            raise ValueError("texts must be str")
        spec = TOOL_SPECS.get(call.name)
        if spec is None:
            return False, "unknown tool"
        if not spec["side_effect"]:
            return True, "read-only"
        bad = set().union(*(value_tokens(t) for t in untrusted)) if untrusted else set()
        good = set().union(*(value_tokens(t) for t in trusted)) if trusted else set()
        for arg in spec["control"]:
            value = call.args.get(arg, "").strip().casefold()
            if not value or (value in bad and value not in good):
                return False, f"{arg} comes from untrusted content"
        return True, "allowed"
    '''
)

FILTER_MARKDOWN_REGEX = answer(
    '''
    def filter_output(answer, allowed_hosts):
        """Filters the markdown with a regex for inline images and links, then renders: reference-style
        links and raw HTML pass."""
        if not isinstance(answer, str):
            raise ValueError("answer must be a str")

        def fix(match):
            return match.group(0) if is_allowed_url(match.group(2), allowed_hosts) else match.group(1)

        cleaned = re.sub(r"!?\\[([^\\]]*)\\]\\(([^)\\s]+)[^)]*\\)", fix, answer)
        return render_markdown(cleaned)
    '''
)

PLAN_NO_CONTROL_CHECK = answer(
    '''
    def execute_plan(plan, quarantined, tools, sources):
        """Substitutes variables into every argument: untrusted data can choose the recipient."""
        if not isinstance(plan, list) or not all(isinstance(s, dict) for s in plan):
            raise ValueError("plan must be a list of dicts")
        if not isinstance(sources, dict):
            raise ValueError("sources must be a dict")
        env, calls, refused, reply = {}, [], [], ""
        for i, step in enumerate(plan):
            try:
                op = step["op"]
                if op == "read":
                    env[step["out"]] = sources[step["source"]]
                elif op == "ask":
                    env[step["out"]] = quarantined.chat(
                        [{"role": "user", "content": f"{step['prompt']}\\n\\n{env[step['input']]}"}],
                        max_tokens=64,
                    )
                elif op == "call":
                    if step["tool"] not in TOOL_SPECS:
                        raise KeyError(step["tool"])
                    args = {
                        k: env[v[1:]] if str(v).startswith("$") else str(v)
                        for k, v in step.get("args", {}).items()
                    }
                    call = ToolCall(step["tool"], args)
                    calls.append(call)
                    env[step.get("out", "_")] = tools.call(call)
                elif op == "reply":
                    reply = env[step["input"]]
                else:
                    raise KeyError(op)
            except KeyError as error:
                refused.append(f"step {i}: unknown {error}")
                break
        return {"reply": reply, "calls": calls, "refused": refused}
    '''
)

ASR_WALD = answer(
    '''
    def attack_success_rate(outcomes):
        """The normal-approximation (Wald) interval: zero width at 0 of n and n of n."""
        if not isinstance(outcomes, list) or not outcomes or not all(isinstance(o, bool) for o in outcomes):
            raise ValueError("a non-empty list of bools")
        n = len(outcomes)
        p = sum(outcomes) / n
        half = 1.96 * math.sqrt(p * (1 - p) / n)
        return p, max(0.0, p - half), min(1.0, p + half)
    '''
)

VARIANTS = [
    Variant(
        "alternatives",
        {
            "canary_leaked": CANARY_LEAKED,
            "is_allowed_url": IS_ALLOWED_URL,
            "filter_output": FILTER_OUTPUT,
            "gate_tool_call": GATE_TOOL_CALL,
            "execute_plan": EXECUTE_PLAN,
            "attack_success_rate": ATTACK_SUCCESS_RATE,
        },
        why=(
            "all six written from the docstrings: a breadth-first decoder queue, one strict URL "
            "regular expression, an event-rebuilding sanitiser, a token-union gate, an interpreter "
            "with a Refused exception, the Wilson interval as centre +- margin"
        ),
    ),
    Variant(
        "mistakes-plain-canary-lookalike-denylist",
        {
            "canary_leaked": CANARY_PLAIN_ONLY,
            "is_allowed_url": URL_SUBSTRING,
            "gate_tool_call": GATE_DENY_LIST,
        },
        loses=("test_canary_leaked", "test_is_allowed_url", "test_gate_tool_call"),
        why=(
            "canary_leaked decodes nothing (base64 and reversed canaries pass); is_allowed_url "
            "accepts any URL that starts with an allowed name (kestrel-outfitters.example.evil.example, "
            "user info); gate_tool_call is a deny-list (a recipient the model made up is allowed)"
        ),
    ),
    Variant(
        "mistakes-markdown-regex-tainted-control-wald",
        {
            "filter_output": FILTER_MARKDOWN_REGEX,
            "execute_plan": PLAN_NO_CONTROL_CHECK,
            "attack_success_rate": ASR_WALD,
        },
        loses=("test_filter_output", "test_execute_plan", "test_attack_success_rate"),
        why=(
            "filter_output filters inline markdown only (reference-style links and raw HTML images "
            "reach the browser); execute_plan lets a variable fill send_email's 'to'; "
            "attack_success_rate uses the Wald interval (0 of 5 gives [0, 0])"
        ),
    ),
]

results, test_variant_is_graded_as_expected, test_coverage, test_not_copies = validity_tests(
    LAB, VARIANTS
)
