"""Reply trimming measured against the expectations two peer projects' own tests state.

Two sets, each taken mechanically from a peer's published test suite (fetched
by tests/support/peers.py, never committed):

- talon 1.4.4: every `tests/fixtures/standard_replies/*.eml`, with the
  expectation its `test_standard_replies` states: the text of the sidecar file
  `<name>_reply_text` where one exists, else the test's default reply. Both the
  sidecar suffix and the default are read out of the test's source. talon's
  test checks quotation removal only (its extract_from_plain keeps signatures;
  the sparrow sidecar holds one), so on this set a library's answer is the
  message with its quoted history cut out, signature kept: for us the input
  without our quoted_text, for email-reply-parser its non-quoted fragments.
- email-reply-parser 1.4.2: the `test/fixtures/*.txt` that its `test/test.js`
  asserts a text for, read out of test.js: `getVisibleText()` equal to a
  string, or the first fragment equal to a string or to the file's shared
  constant. Assertions with a regular expression, and one whose variable is
  not the mail of its own test, are not used (listed with --verbose). Here a
  library's answer has the signature removed: ours is visible_text; talon's is
  extract_from_plain followed by talon's own brute-force signature extractor
  (talon.signature.bruteforce). For first-fragment assertions,
  email-reply-parser's own first fragment is compared; the other libraries
  have no fragments, so their visible text is compared up to its first quoted
  (">") line and the attribution line right above it, which differs from the
  whole visible text only for an interleaved reply.

A fixture counts when the answer equals the expectation after whitespace
normalisation: every run of whitespace (including no-break spaces) becomes
one space, and leading and trailing whitespace is dropped. Each library gets
the same input: the fixture file's text for email-reply-parser's set; for
talon's, the first text/plain part as the standard library's `email` package
decodes it (which is how talon's test reads it).

The peers run from throwaway installs under bench/out/: talon in a venv
(`pip install talon==1.4.4`), email-reply-parser with npm
(`npm install email-reply-parser@1.4.2`) through a small node script; a
column says "n/a" with the reason when an install is impossible.

    .venv/bin/python bench/trim_peers.py [--verbose] [--json] [--no-install]
    .venv/bin/python bench/trim_peers.py --timing CORPUS.mbox.xz [-n 3000]
"""

from __future__ import annotations

import argparse
import ast
import email
import email.policy
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mail.archive import read_archive  # noqa: E402
from mail.parse import parse_message  # noqa: E402
from mail.trim import split_reply  # noqa: E402
from tests.support.peers import fetch, peer_root  # noqa: E402

OUT = ROOT / "bench" / "out"
TALON_VENV = OUT / "talon-venv"
ERP_DIR = OUT / "erp"
TALON_PIN = "talon==1.4.4"
ERP_PIN = "email-reply-parser@1.4.2"

OURS, TALON, ERP = "commons-bridge", "talon 1.4.4", "email-reply-parser 1.4.2"
TALON_SET, ERP_SET = "talon standard replies", "email-reply-parser test.js"
TALON_INLINE_SET = "talon inline test cases (extra)"


@dataclass(slots=True)
class Case:
    """One fixture with the text the peer's test expects for it."""

    name: str
    text: str
    expected: str
    kind: str  # "reply" (quote removed, signature kept), "visible" or "first fragment"


@dataclass(slots=True)
class Suite:
    name: str
    cases: list[Case]
    unused: list[str] = field(default_factory=list)  # assertions not turned into cases, and why


# --- expectations out of talon's test -----------------------------------------------


def talon_suite(root: Path) -> Suite:
    """talon's standard replies with the expectation test_standard_replies states."""
    source = (root / "tests" / "text_quotations_test.py").read_text()
    test = _python_function(source, "test_standard_replies")
    # `reply_text_fn = filename[:-4] + '_reply_text'` and `reply_text = 'Hello'`.
    suffix = re.search(r"filename\[:-4\]\s*\+\s*(['\"])(\w+)\1", test)
    default = re.search(r"^\s*reply_text\s*=\s*(['\"])(.*?)\1\s*$", test, re.M)
    if suffix is None or default is None:
        raise SystemExit("talon's test_standard_replies changed shape: update talon_suite")
    folder = root / "tests" / "fixtures" / "standard_replies"
    cases = []
    for path in sorted(folder.glob("*.eml")):
        sidecar = path.with_name(path.stem + suffix.group(2))
        expected = sidecar.read_text().strip() if sidecar.is_file() else default.group(2)
        cases.append(Case(path.name, _first_plain_part(path.read_bytes()), expected, "reply"))
    return Suite(TALON_SET, cases)


def talon_inline_suite(root: Path) -> Suite:
    """The (input, expected) pairs talon's text_quotations_test.py writes out in full:
    `eq_(<string>, quotations.extract_from_plain(<string>))`, each string a literal or a
    name bound to one in the same test. Tests that patch talon or build their input are
    left out. An extra set: the figures asked for are the two above."""
    source = (root / "tests" / "text_quotations_test.py").read_text()
    cases = []
    for function in ast.parse(source).body:
        if not isinstance(function, ast.FunctionDef) or function.decorator_list:
            continue
        # Statements in order: a test may rebind msg_body between its assertions.
        names: dict[str, str] = {}
        for statement in function.body:
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
                target, value = statement.targets[0], _literal(statement.value, {})
                if isinstance(target, ast.Name) and value is not None:
                    names[target.id] = value
            call = statement.value if isinstance(statement, ast.Expr) else None
            if not (
                isinstance(call, ast.Call)
                and getattr(call.func, "id", "") == "eq_"
                and len(call.args) >= 2
                and isinstance(call.args[1], ast.Call)
                and getattr(call.args[1].func, "attr", "") == "extract_from_plain"
                and call.args[1].args
            ):
                continue
            expected = _literal(call.args[0], names)
            text = _literal(call.args[1].args[0], names)
            if expected is not None and text is not None:
                cases.append(Case(function.name, text, expected, "reply"))
    return Suite(TALON_INLINE_SET, cases)


def _literal(node: ast.expr, names: dict[str, str]) -> str | None:
    if isinstance(node, ast.Name):
        return names.get(node.id)
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None
    return value if isinstance(value, str) else None


def _python_function(source: str, name: str) -> str:
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(source, node) or ""
    raise SystemExit(f"talon's tests have no {name}: update talon_suite")


def _first_plain_part(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return str(part.get_content())  # type: ignore[attr-defined]
    return ""


# --- expectations out of email-reply-parser's test.js -------------------------------

_JS_TEST = re.compile(r"^exports\.(\w+)\s*=\s*function\s*\(\s*test\s*\)\s*\{", re.M)
_JS_CONST = re.compile(r"^const\s+(\w+)\s*=\s*(['\"])", re.M)
_JS_GET_EMAIL = re.compile(r"(?:\b(?:let|var|const)\s+)?\b(\w+)\s*=\s*get_email\(\s*(['\"])(.+?)\2")
_JS_FRAGMENTS = re.compile(r"\b(?:let|var|const)\s+(\w+)\s*=\s*(\w+)\.getFragments\(\)")
_JS_FIRST = re.compile(r"(?:(\w+)\.)?(\w+)\[0\](?:\.toString\(\))?(?:\.trim\(\))?")
_JS_VISIBLE = re.compile(r"(\w+)\.getVisibleText\(\)")
_JS_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


def erp_suite(root: Path) -> Suite:
    """(fixture, expected text) pairs from the string equalities in test/test.js."""
    source = (root / "test" / "test.js").read_text()
    constants = {m.group(1): _js_string(source, m.end() - 1)[0] for m in _JS_CONST.finditer(source)}
    suite = Suite(ERP_SET, [])
    starts = list(_JS_TEST.finditer(source))
    for index, start in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(source)
        _erp_test(root, start.group(1), source[start.end() : end], constants, suite)
    return suite


def _erp_test(root: Path, test: str, body: str, constants: dict[str, str], suite: Suite) -> None:
    emails = {m.group(1): m.group(3) for m in _JS_GET_EMAIL.finditer(body)}
    fragments = {m.group(1): m.group(2) for m in _JS_FRAGMENTS.finditer(body)}
    for arguments in _js_calls(body, "test.equal"):
        if len(arguments) != 2:
            continue
        values = [_js_value(argument, constants) for argument in arguments]
        targets = [_js_target(argument, emails, fragments) for argument in arguments]
        for value, target, other in (
            (values[0], targets[1], arguments[1]),
            (values[1], targets[0], arguments[0]),
        ):
            if value is None or target is None:
                continue
            kind, variable = target
            if variable not in emails:
                # test_reads_top_post reads email_3 but asserts on `reply`, a global the
                # previous test left behind: the assertion is not about email_3.
                suite.unused.append(f"{test}: asserts on `{other}`, not on this test's mail")
                continue
            fixture = root / "test" / "fixtures" / f"{emails[variable]}.txt"
            suite.cases.append(Case(fixture.stem, fixture.read_text(), value, kind))
            break
        else:
            checks = [argument for argument in arguments if "test(" in argument]
            if checks:
                suite.unused.append(f"{test}: regular-expression check {checks[0][:60]}")


def _js_target(
    argument: str, emails: dict[str, str], fragments: dict[str, str]
) -> tuple[str, str] | None:
    """("visible" | "first fragment", mail variable) for an expression a test asserts on."""
    if match := _JS_VISIBLE.fullmatch(argument):
        return "visible", match.group(1)
    if match := _JS_FIRST.fullmatch(argument):
        owner, array = match.groups()
        if owner and array == "fragments":
            return "first fragment", owner
        if not owner and array in fragments:
            return "first fragment", fragments[array]
    return None


def _js_value(argument: str, constants: dict[str, str]) -> str | None:
    if argument in constants:
        return constants[argument]
    if argument[:1] in "'\"":
        value, end = _js_string(argument, 0)
        return value if end == len(argument) else None
    return None


def _js_string(source: str, start: int) -> tuple[str, int]:
    """The value of the JavaScript string literal at `start`, and the offset after it."""
    quote, index = source[start], start + 1
    out: list[str] = []
    while index < len(source):
        char = source[index]
        if char == quote:
            return "".join(out), index + 1
        if char == "\\":
            following = source[index + 1]
            if following == "\n":  # a line continuation adds nothing
                index += 2
                continue
            if following == "u":
                if source[index + 2] == "{":
                    close = source.index("}", index)
                    out.append(chr(int(source[index + 3 : close], 16)))
                    index = close + 1
                else:
                    out.append(chr(int(source[index + 2 : index + 6], 16)))
                    index += 6
                continue
            out.append(_JS_ESCAPES.get(following, following))
            index += 2
            continue
        out.append(char)
        index += 1
    raise ValueError("unterminated JavaScript string")


def _js_calls(body: str, callee: str) -> Iterator[list[str]]:
    """The top-level arguments of each `callee(...)` call, as source text."""
    for match in re.finditer(re.escape(callee) + r"\s*\(", body):
        arguments: list[str] = []
        current: list[str] = []
        depth, index = 0, match.end()
        while index < len(body):
            char = body[index]
            if char in "'\"`" or (char == "/" and "".join(current).strip()[-1:] in ("", "(", ",")):
                end = _js_skip_literal(body, index)
                current.append(body[index:end])
                index = end
                continue
            if char in "([{":
                depth += 1
            elif char in ")]}":
                if depth == 0:
                    arguments.append("".join(current).strip())
                    break
                depth -= 1
            elif char == "," and depth == 0:
                arguments.append("".join(current).strip())
                current = []
                index += 1
                continue
            current.append(char)
            index += 1
        yield arguments


def _js_skip_literal(body: str, start: int) -> int:
    """Offset just after the string or regular-expression literal at `start`."""
    quote, index, in_class = body[start], start + 1, False
    while index < len(body):
        char = body[index]
        if char == "\\":
            index += 2
            continue
        if quote == "/" and char in "[]":
            in_class = char == "["
        elif char == quote and not in_class:
            index += 1
            while quote == "/" and index < len(body) and body[index].isalpha():
                index += 1  # regex flags
            return index
        index += 1
    return index


# --- running the libraries ----------------------------------------------------------

_TALON_RUNNER = """
import json, sys
from talon import quotations
from talon.signature.bruteforce import extract_signature
answers = []
for text in json.load(sys.stdin):
    reply = quotations.extract_from_plain(text)
    answers.append({"reply": reply, "visible": extract_signature(reply)[0]})
json.dump(answers, sys.stdout)
"""

_ERP_RUNNER = """
const fs = require("fs");
const EmailReplyParser = require("email-reply-parser");
const answers = JSON.parse(fs.readFileSync(0, "utf-8")).map((text) => {
  const parsed = new EmailReplyParser().read(text);
  const unquoted = parsed.getFragments().filter((f) => !f.isQuoted);
  return {
    reply: unquoted.map((f) => f.toString()).join("\\n"),
    visible: parsed.getVisibleText(),
    first: parsed.getFragments().length ? parsed.getFragments()[0].toString() : "",
  };
});
process.stdout.write(JSON.stringify(answers));
"""

Runner = Callable[[list[str]], list[dict[str, str]]]


def ours(texts: list[str]) -> list[dict[str, str]]:
    """Our visible text, and the input with our quoted part cut out (signature kept)."""
    answers = []
    for text in texts:
        visible, quoted, _signature = split_reply(text)
        text = text.replace("\r\n", "\n")
        at = text.find(quoted) if quoted else -1
        reply = text if at < 0 else text[:at] + text[at + len(quoted) :]
        answers.append({"reply": reply, "visible": visible})
    return answers


def talon_runner(install: bool) -> Runner | str:
    """A runner for talon in its own venv, or why there is none."""
    python = TALON_VENV / "bin" / "python"
    if not python.exists() and install:
        subprocess.run([sys.executable, "-m", "venv", str(TALON_VENV)], check=True)
        done = _run([str(python), "-m", "pip", "install", "--quiet", TALON_PIN])
        if done.returncode != 0:
            shutil.rmtree(TALON_VENV)
            return f"pip install {TALON_PIN} failed: {_last_line(done.stderr)}"
    if not python.exists():
        return f"no venv at {TALON_VENV} (run without --no-install)"
    return lambda texts: _json_run([str(python), "-c", _TALON_RUNNER], texts, OUT)


def erp_runner(install: bool) -> Runner | str:
    """A runner for email-reply-parser under node, or why there is none."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return "node or npm is not installed"
    package = ERP_DIR / "node_modules" / "email-reply-parser"
    if not package.exists() and install:
        ERP_DIR.mkdir(parents=True, exist_ok=True)
        done = _run([npm, "install", "--no-audit", "--no-fund", "--silent", ERP_PIN], cwd=ERP_DIR)
        if done.returncode != 0:
            return f"npm install {ERP_PIN} failed: {_last_line(done.stderr)}"
    if not package.exists():
        return f"no {package} (run without --no-install)"
    script = ERP_DIR / "run.js"
    script.write_text(_ERP_RUNNER)
    return lambda texts: _json_run([node, str(script)], texts, ERP_DIR)


def _run(command: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=900)


def _json_run(command: list[str], texts: list[str], cwd: Path) -> list[dict[str, str]]:
    done = subprocess.run(
        command, input=json.dumps(texts), capture_output=True, text=True, cwd=cwd, check=True
    )
    return json.loads(done.stdout)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


# --- scoring -------------------------------------------------------------------------

_WHITESPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


_DATE_TOKEN = re.compile(r"\b(?:19|20)\d\d\b|\d{1,2}:\d\d")


def first_fragment(visible: str) -> str:
    """The visible text up to its first quoted line, without the attribution above it: the
    line right above the quote when it ends in a colon, and the lines above that one, up
    to three in all, until one with a date or a time (where attributions start)."""
    lines = visible.split("\n")
    for index, line in enumerate(lines):
        if line.lstrip().startswith(">"):
            head = lines[:index]
            while head and not head[-1].strip():
                head.pop()
            if head and head[-1].rstrip().endswith(":"):
                for _ in range(3):
                    dropped = head.pop()
                    if not head or not head[-1].strip() or _DATE_TOKEN.search(dropped):
                        break
            return "\n".join(head)
    return visible


def answer_for(case: Case, answer: dict[str, str]) -> str:
    if case.kind == "reply":
        return answer["reply"]
    if case.kind == "first fragment":
        # email-reply-parser has fragments of its own: its first one is what its test reads.
        return answer["first"] if "first" in answer else first_fragment(answer["visible"])
    return answer["visible"]


def _difference(case: Case, expected: str, got: str) -> str:
    """One line naming the fixture and showing both texts from where they part."""
    # Texts of unequal length: zip stops at the shorter, the rest is the difference.
    at = next((i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b), None)
    at = min(len(expected), len(got)) if at is None else at
    start = max(0, at - 20)
    return (
        f"{case.name} ({case.kind}), from character {at}: expected "
        f"{expected[start : at + 60]!r}, got {got[start : at + 60]!r}"
    )


@dataclass(slots=True)
class Score:
    passed: int
    total: int
    failures: list[str]
    seconds: float

    @property
    def share(self) -> float:
        return self.passed / self.total if self.total else 0.0


def score(suite: Suite, runner: Runner) -> Score:
    started = time.perf_counter()
    answers = runner([case.text for case in suite.cases])
    seconds = time.perf_counter() - started
    failures = [
        _difference(case, normalise(case.expected), normalise(answer_for(case, answer)))
        for case, answer in zip(suite.cases, answers, strict=True)
        if normalise(answer_for(case, answer)) != normalise(case.expected)
    ]
    total = len(suite.cases)
    return Score(total - len(failures), total, failures, seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", "-v", action="store_true", help="list every miss")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument(
        "--no-install", action="store_true", help="do not install talon or email-reply-parser"
    )
    parser.add_argument(
        "--timing",
        type=Path,
        metavar="MBOX",
        help="instead: split_reply's CPU time per message on the first -n messages of an mbox",
    )
    parser.add_argument("-n", "--messages", type=int, default=3000, help="with --timing")
    args = parser.parse_args()
    if args.timing is not None:
        return _timing(args.timing, args.messages)
    fetch(["talon", "email-reply-parser"])
    talon_root, erp_root = peer_root("talon"), peer_root("email-reply-parser")
    if talon_root is None or erp_root is None:
        print("peer packages not fetched: run `.venv/bin/python tests/support/peers.py fetch`")
        return 2
    suites = [talon_suite(talon_root), erp_suite(erp_root), talon_inline_suite(talon_root)]
    runners: dict[str, Runner | str] = {
        OURS: ours,
        TALON: talon_runner(not args.no_install),
        ERP: erp_runner(not args.no_install),
    }
    results: dict[str, dict[str, Score | str]] = {}
    for suite in suites:
        results[suite.name] = {}
        for library, runner in runners.items():
            results[suite.name][library] = (
                runner if isinstance(runner, str) else score(suite, runner)
            )
    _print(suites, results, verbose=args.verbose)
    if args.json:
        print(json.dumps(_as_json(suites, results)))
    return 0


def _timing(mbox: Path, limit: int, rounds: int = 5) -> int:
    """CPU time of split_reply alone (process time, best of `rounds`) on real mail texts."""
    texts = []
    for message in read_archive(mbox):
        texts.append(parse_message(message.raw).text)
        if len(texts) >= limit:
            break
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for text in texts:
            split_reply(text)
        best = min(best, time.process_time() - started)
    size = sum(map(len, texts)) / max(len(texts), 1)
    print(
        f"{len(texts)} texts, mean {size:,.0f} characters: split_reply "
        f"{best / max(len(texts), 1) * 1e6:.1f} µs per message (best of {rounds}, CPU time)"
    )
    return 0


def _print(
    suites: list[Suite], results: dict[str, dict[str, Score | str]], *, verbose: bool
) -> None:
    libraries = list(next(iter(results.values())))
    print(f"| set | fixtures | {' | '.join(libraries)} |")
    print(f"| --- | --- |{' --- |' * len(libraries)}")
    for suite in suites:
        cells = []
        for library in libraries:
            result = results[suite.name][library]
            cells.append(
                f"n/a ({result})"
                if isinstance(result, str)
                else f"{result.share:.1%} ({result.passed}/{result.total})"
            )
        print(f"| {suite.name} | {len(suite.cases)} | {' | '.join(cells)} |")
    print(
        f"\ncomparison: whitespace-normalised equality; python {sys.version.split()[0]}, "
        f"node {_node_version()}"
    )
    for suite in suites:
        if suite.unused:
            print(f"\n{suite.name}: {len(suite.unused)} assertions not used as cases")
            if verbose:
                for note in suite.unused:
                    print(f"  - {note}")
        for library in libraries:
            result = results[suite.name][library]
            if isinstance(result, Score) and result.failures and (verbose or library == OURS):
                print(f"\n{library} misses on {suite.name}:")
                for failure in result.failures:
                    print(f"  - {failure}")


def _node_version() -> str:
    node = shutil.which("node")
    if node is None:
        return "absent"
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()


def _as_json(suites: list[Suite], results: dict[str, dict[str, Score | str]]) -> dict[str, object]:
    return {
        suite.name: {
            library: (
                {"error": result}
                if isinstance(result, str)
                else {"passed": result.passed, "total": result.total, "share": result.share}
            )
            for library, result in results[suite.name].items()
        }
        for suite in suites
    }


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
