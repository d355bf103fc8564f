"""Import throughput of ``bridge import`` against a bare CPython parse of the same mbox.

    python bench/ingest.py --messages 10000 --seed 1      # synthetic corpus (bench/corpus.py)
    python bench/ingest.py --mbox PATH [--json]           # any mbox, .mbox.xz or .mbox.gz

One run measures, on the same file and machine:

a) the bare parse rate: split the mbox on ``From `` lines (streaming, mboxrd un-escaping)
   and ``email.message_from_bytes(raw, policy=email.policy.default)`` each message,
   reading Subject, From and Message-ID so the lazy header parsing really happens;
b) the product's import, in a subprocess with a fresh data directory
   (``bridge community add`` then ``bridge import --community bench FILE``): wall
   clock, CPU time and peak RSS of that import process (from ``wait4``);
c) the ratio import/parse (target >= 0.35) and the peak RSS (target < 300 MB).

Compressed inputs and the synthetic corpus are prepared in bench/out/ before any timing.
The machine is shared and noisy: compare the ratio of one run, not absolute rates across
runs. Exit status: 0 when the import succeeded, 1 when it failed, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import email
import email.policy
import gc
import gzip
import json
import lzma
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
BRIDGE = REPO / ".venv" / "bin" / "bridge"
CORPUS_SCRIPT = REPO / "bench" / "corpus.py"
RATIO_TARGET = 0.35
RSS_TARGET_MB = 300.0
POLL_S = 0.02
SUMMARY = re.compile(r"imported (\d+), duplicates (\d+), held (\d+), failed (\d+)")
QUOTED_FROM = re.compile(rb">+From ")


class BenchError(Exception):
    """The benchmark cannot run (missing CLI, bad input); exit status 2."""


@dataclass
class ParseResult:
    messages: int
    wall_s: float
    cpu_s: float

    @property
    def rate(self) -> float:
        return self.messages / self.wall_s if self.wall_s > 0 else 0.0


@dataclass
class ImportResult:
    exit_code: int
    wall_s: float
    cpu_s: float
    peak_rss_kib: int  # see peak_rss()
    hwm_kib: int
    wait4_kib: int
    summary: str | None
    counts: dict[str, int] | None
    output_tail: str


@dataclass
class Report:
    corpus: str
    corpus_bytes: int
    messages: int
    parse_wall_s: float
    parse_cpu_s: float
    parse_msg_per_s: float
    import_wall_s: float | None = None
    import_cpu_s: float | None = None
    import_msg_per_s: float | None = None
    ratio: float | None = None
    ratio_cpu: float | None = None
    peak_rss_mb: float | None = None
    peak_rss_source: str | None = None
    import_exit: int | None = None
    summary: str | None = None
    counts: dict[str, int] | None = None
    error: str | None = None
    python: str = sys.version.split()[0]
    command: str = ""


# --------------------------------------------------------------------------------------
# Input preparation (never timed)
# --------------------------------------------------------------------------------------


def synthetic_corpus(messages: int, seed: int, list_id: bool) -> Path:
    """Path of the synthetic corpus for (messages, seed), generated on first use."""
    name = f"synthetic-{messages}-seed{seed}{'-listid' if list_id else ''}.mbox"
    path = OUT / name
    if path.exists() and path.stat().st_mtime >= CORPUS_SCRIPT.stat().st_mtime:
        return path  # regenerated whenever the generator changed
    OUT.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".mbox.part")
    cmd = [sys.executable, str(CORPUS_SCRIPT), "--messages", str(messages)]
    cmd += ["--seed", str(seed), "--out", str(partial)]
    if list_id:
        cmd.append("--list-id")
    print(f"generating corpus: {shlex.join(cmd)}", flush=True)
    subprocess.run(cmd, check=True)
    partial.replace(path)
    return path


def decompressed(path: Path) -> Path:
    """A plain mbox for ``path``: .xz/.gz files are unpacked once into bench/out/."""
    if path.suffix not in (".xz", ".gz"):
        return path
    target = OUT / path.with_suffix("").name
    if target.exists() and target.stat().st_mtime >= path.stat().st_mtime:
        return target
    OUT.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    print(f"decompressing {path} -> {target}", flush=True)
    opener = lzma.open if path.suffix == ".xz" else gzip.open
    with opener(path, "rb") as src, partial.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    partial.replace(target)
    return target


# --------------------------------------------------------------------------------------
# a) bare parse
# --------------------------------------------------------------------------------------


def iter_mbox(path: Path) -> Iterator[bytes]:
    """Raw messages of an mbox, streaming: split on ``From `` lines, undo mboxrd quoting."""
    lines: list[bytes] = []
    with path.open("rb", buffering=1 << 20) as f:
        for line in f:
            if line.startswith(b"From "):
                if lines:
                    yield finish(lines)
                lines = []
                continue
            if line.startswith(b">") and QUOTED_FROM.match(line):
                line = line[1:]
            lines.append(line)
    if lines:
        yield finish(lines)


def finish(lines: list[bytes]) -> bytes:
    """Join a message's lines, dropping the blank line that separates mbox entries."""
    if lines[-1] in (b"\n", b"\r\n"):
        lines.pop()
    return b"".join(lines)


def bare_parse(path: Path) -> ParseResult:
    """Parse every message with the standard library; count and time it."""
    policy = email.policy.default
    count = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for raw in iter_mbox(path):
        msg = email.message_from_bytes(raw, policy=policy)
        _ = (msg["subject"], msg["from"], msg["message-id"])  # the lazy header parse runs here
        count += 1
    return ParseResult(count, time.perf_counter() - wall, time.process_time() - cpu)


# --------------------------------------------------------------------------------------
# b) product import
# --------------------------------------------------------------------------------------


def bridge_env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "BRIDGE_DATA": str(data_dir)}


def create_community(env: dict[str, str]) -> None:
    cmd = [str(BRIDGE), "community", "add", "bench", "--name", "Bench"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stdout + done.stderr).strip()[-2000:]
        raise BenchError(f"`{shlex.join(cmd)}` exited {done.returncode}:\n{tail}")


def timed_import(mbox: Path, env: dict[str, str], timeout: float | None) -> ImportResult:
    """Run ``bridge import`` and measure the child itself (wall, CPU, peak RSS)."""
    cmd = [str(BRIDGE), "import", "--community", "bench", str(mbox)]
    gc.collect()
    own_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            status, usage, hwm_kib = wait_child(proc, timeout)
        except BaseException:  # Ctrl-C: do not leave the import running in its session
            kill_group(proc)
            raise
        wall = time.perf_counter() - started
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    summary = last_summary(text)
    counts = None
    if summary:
        match = SUMMARY.search(summary)
        assert match is not None
        keys = ("imported", "duplicates", "held", "failed")
        counts = dict(zip(keys, map(int, match.groups()), strict=True))
    return ImportResult(
        exit_code=status,
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_kib=peak_rss(hwm_kib, usage.ru_maxrss, own_kib),
        hwm_kib=hwm_kib,
        wait4_kib=usage.ru_maxrss,
        summary=summary,
        counts=counts,
        output_tail="\n".join(text.strip().splitlines()[-15:]),
    )


def wait_child(
    proc: subprocess.Popen[bytes], timeout: float | None
) -> tuple[int, resource.struct_rusage, int]:
    """Reap the child with ``wait4`` while polling its VmHWM; return (exit, rusage, VmHWM)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    hwm = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            code = os.waitstatus_to_exitcode(status)
            proc.returncode = code  # reaped here: keep Popen from waiting again
            return code, usage, hwm
        hwm = max(hwm, vm_hwm_kib(proc.pid))
        if deadline is not None and time.monotonic() > deadline:
            print(f"import still running after {timeout} s: killing it", file=sys.stderr)
            kill_group(proc)
            deadline = None
        time.sleep(POLL_S)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill the import and anything it started (it runs in its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def vm_hwm_kib(pid: int) -> int:
    """Peak RSS so far of ``pid``'s current program (the kernel resets it at exec)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss(hwm_kib: int, wait4_kib: int, own_kib: int) -> int:
    """The import's peak RSS in KiB.

    ``wait4``'s ru_maxrss covers the child and its own children, but Linux also counts
    the memory the child had before exec, i.e. this script's RSS at spawn time: it is
    only the import's figure when it is above that. The polled VmHWM belongs to the
    import program alone (it may miss a peak in its last ``POLL_S`` seconds).
    """
    if wait4_kib > own_kib:
        return max(hwm_kib, wait4_kib)
    return hwm_kib or wait4_kib


def last_summary(text: str) -> str | None:
    for line in reversed(text.splitlines()):
        if SUMMARY.search(line):
            return line.strip()
    return None


def run_import(mbox: Path, keep_data: bool, timeout: float | None) -> ImportResult:
    if not BRIDGE.exists():
        raise BenchError(
            f"bridge CLI not found at {BRIDGE}: install the project into the venv "
            "(`.venv/bin/pip install -e .`) once `bridge import` exists; "
            "the parse half ran, the import half did not (use --parse-only to skip it)"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="bridge-data-", dir=OUT))
    try:
        env = bridge_env(data_dir)
        create_community(env)
        return timed_import(mbox, env, timeout)
    finally:
        if keep_data:
            print(f"data directory kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


# --------------------------------------------------------------------------------------
# c) report
# --------------------------------------------------------------------------------------


def build_report(corpus: Path, parsed: ParseResult, imported: ImportResult | None) -> Report:
    report = Report(
        corpus=str(corpus),
        corpus_bytes=corpus.stat().st_size,
        messages=parsed.messages,
        parse_wall_s=round(parsed.wall_s, 3),
        parse_cpu_s=round(parsed.cpu_s, 3),
        parse_msg_per_s=round(parsed.rate, 1),
        command=shlex.join([sys.executable, *sys.argv]),
    )
    if imported is None:
        return report
    report.import_exit = imported.exit_code
    report.import_wall_s = round(imported.wall_s, 3)
    report.summary = imported.summary
    report.counts = imported.counts
    if imported.exit_code != 0 or imported.summary is None:
        return report  # a failed run has no meaningful rate
    rate = parsed.messages / imported.wall_s if imported.wall_s > 0 else 0.0
    parse_cpu_rate = parsed.messages / parsed.cpu_s if parsed.cpu_s > 0 else 0.0
    import_cpu_rate = parsed.messages / imported.cpu_s if imported.cpu_s > 0 else 0.0
    report.import_cpu_s = round(imported.cpu_s, 3)
    report.import_msg_per_s = round(rate, 1)
    report.ratio = round(rate / parsed.rate, 3) if parsed.rate else None
    report.ratio_cpu = round(import_cpu_rate / parse_cpu_rate, 3) if parse_cpu_rate else None
    report.peak_rss_mb = round(imported.peak_rss_kib / 1024, 1)
    report.peak_rss_source = (
        f"VmHWM {imported.hwm_kib / 1024:.1f} MB, wait4 {imported.wait4_kib / 1024:.1f} MB"
    )
    return report


def accounted(report: Report) -> str:
    """Do the import's counts add up to the messages the bare parse saw?"""
    if not report.counts:
        return "unknown"
    total = sum(report.counts.values())
    same = "matches" if total == report.messages else "DIFFERS FROM"
    return f"{total} messages, {same} the {report.messages} parsed"


def verdict(ok: bool) -> str:
    return "ok" if ok else "BELOW TARGET"


def print_report(report: Report, imported: ImportResult | None) -> None:
    rows = [
        ("corpus", f"{report.corpus} ({report.corpus_bytes / 1e6:.1f} MB)"),
        ("messages", f"{report.messages}"),
        (
            "bare parse",
            f"{report.parse_msg_per_s:,.0f} msg/s "
            f"({report.parse_wall_s:.2f} s wall, {report.parse_cpu_s:.2f} s CPU)",
        ),
    ]
    if report.import_msg_per_s is not None and report.ratio is not None:
        rows += [
            (
                "import",
                f"{report.import_msg_per_s:,.0f} msg/s "
                f"({report.import_wall_s:.2f} s wall, {report.import_cpu_s:.2f} s CPU)",
            ),
            (
                "ratio import/parse",
                f"{report.ratio:.2f} (CPU-time ratio {report.ratio_cpu}) "
                f"target >= {RATIO_TARGET}: {verdict(report.ratio >= RATIO_TARGET)}",
            ),
            (
                "import peak RSS",
                f"{report.peak_rss_mb:.1f} MB ({report.peak_rss_source}), "
                f"target < {RSS_TARGET_MB:.0f} MB: "
                f"{verdict((report.peak_rss_mb or 0) < RSS_TARGET_MB)}",
            ),
        ]
    elif report.import_exit is not None:
        rows.append(
            (
                "import",
                f"FAILED: exit {report.import_exit} after {report.import_wall_s:.2f} s"
                + ("" if report.summary else ", no summary line"),
            )
        )
    if report.import_exit is not None:
        rows += [
            ("import summary", report.summary or "(no summary line found)"),
            ("accounted for", accounted(report)),
            ("import exit", str(report.import_exit)),
        ]
    if report.error:
        rows.append(("import", f"NOT RUN: {report.error}"))
    rows += [("python", sys.version.replace("\n", " ")), ("command", report.command)]
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    if imported is not None and (imported.exit_code != 0 or imported.summary is None):
        print("--- last lines of the import's output ---")
        print(imported.output_tail)


# --------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--messages", type=int, help="synthetic corpus of this many messages")
    source.add_argument("--mbox", type=Path, help="existing mbox (.xz and .gz are unpacked)")
    parser.add_argument("--seed", type=int, default=1, help="synthetic corpus seed (default 1)")
    parser.add_argument("--list-id", action="store_true", help="synthetic corpus with List-Id")
    parser.add_argument("--parse-only", action="store_true", help="skip the import half")
    parser.add_argument("--keep-data", action="store_true", help="keep the import data dir")
    parser.add_argument("--timeout", type=float, default=None, help="kill the import after N s")
    parser.add_argument("--json", action="store_true", help="also print one JSON object")
    return parser.parse_args(argv)


def corpus_path(args: argparse.Namespace) -> Path:
    if args.mbox is not None:
        if not args.mbox.is_file():
            raise BenchError(f"no such mbox: {args.mbox}")
        return decompressed(args.mbox)
    if args.messages <= 0:
        raise BenchError("--messages must be positive")
    return synthetic_corpus(args.messages, args.seed, args.list_id)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        corpus = corpus_path(args)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    parsed = bare_parse(corpus)
    imported: ImportResult | None = None
    error = None
    if not args.parse_only:
        try:
            imported = run_import(corpus, args.keep_data, args.timeout)
        except BenchError as exc:
            error = str(exc)
    report = build_report(corpus, parsed, imported)
    report.error = error
    print_report(report, imported)
    if args.json:
        print(json.dumps(asdict(report), sort_keys=True))
    if error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if imported is not None and (imported.exit_code != 0 or imported.summary is None):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
