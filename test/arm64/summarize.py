#!/usr/bin/env python3
"""Turns the guests' console logs into the arm64 tier's pass/fail summary.

Reads work/logs/<run>.log (one per QEMU boot) and work/host-results.txt,
checks every expected result line is there and says PASS, prints a table and
the key numbers, writes it to --out, and exits 1 on any failure or missing
line. A run that produced no result at all is a failure like any other.

The expected names below must match what guest/init and guest/api.ts print.
"""

import argparse
import os
import re
import sys

RESULT = re.compile(r"@@RESULT (\S+) (PASS|FAIL)(?: (.*))?$")

# The runtimes that run guest/api.ts (guest/init's api_checks).
API_RUNTIMES = ("deno", "bun", "node")

SMOKE = {
    "max": ["c.basic.open", "c.basic.bracket", "c.basic.grow", "c.multi", "c.group"],
    "suite": [],
    "a57": ["c.basic.open", "c.basic.bracket", "c.basic.grow", "c.multi32",
            "c.wrap"],
    "icount": ["c.basic.open", "c.basic.bracket", "c.basic.grow", "c.icount"],
    "off": ["c.off"],
}
API = {
    "max": ["api.require", "api.bracket", "api.grow", "api.multi", "api.group"],
    "suite": [],
    "a57": ["api.require", "api.bracket", "api.grow", "api.wrap32"],
    "icount": ["api.require", "api.icount"],
    "off": ["api.require-refused", "api.auto-syscall", "api.off-cost"],
}
PROJECT_EXTRA = {
    "max": ["zig.tests"],
    "suite": ["deno.suite", "bun.suite"],
    "a57": [],
    "icount": ["deno.hwsuite", "bun.hwsuite"] +
              [f"{rt}.bench.{n}" for rt in ("deno", "bun")
               for n in ("measure-linear", "leak", "mitata")],
    "off": [],
}
SUITES = ("deno.suite", "bun.suite", "deno.hwsuite", "bun.hwsuite")
HOST_PROJECT = ["host.build.lib", "host.build.zig-tests"]

RUN_TITLE = {
    "max": "-cpu max,pauth-impdef=on,pmu=on,sve=off,sme=off (64-bit counters)",
    "suite": "-cpu max,... the project's test/*.test.ts, deno and bun",
    "a57": "-cpu cortex-a57,pmu=on -icount shift=0 -smp 1 (32-bit fallback, wrap)",
    "icount": "-cpu max,... -icount shift=0 -smp 1 (exact INSTRUCTIONS)",
    "off": "-cpu max,... perf_user_access=0 (fast path off)",
}

# Result lines whose details are the numbers the issue asks to quote.
KEY_RESULTS = [
    "c.basic.open", "c.basic.bracket", "c.multi", "c.group", "c.multi32", "c.wrap",
    "c.icount", "c.off",
    *[f"{rt}.api.{n}" for n in ("require", "bracket", "multi", "group", "wrap32", "icount",
                                "require-refused", "auto-syscall", "off-cost")
      for rt in API_RUNTIMES],
    "zig.tests", *SUITES,
    "deno.bench.measure-linear", "bun.bench.measure-linear",
    "deno.bench.leak", "bun.bench.leak", "deno.bench.mitata", "bun.bench.mitata",
]


def expected_for(run, smoke_only, profile="full"):
    names = list(SMOKE[run])
    if not smoke_only:
        names += [f"{rt}.{n}" for rt in API_RUNTIMES for n in API[run]]
        # The fastpath profile (run.sh) does not put the Zig test binary in
        # the guest, so max expects no zig.tests line there.
        names += [n for n in PROJECT_EXTRA[run] if not (profile == "fastpath" and n == "zig.tests")]
    return names


def parse_log(path):
    results, facts = [], {}
    suite_lines = {}  # step name -> its console lines, BEGIN to RESULT
    current = None
    if not os.path.exists(path):
        return results, facts, suite_lines
    with open(path, errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\r\n").replace("\r", "")
            m = RESULT.search(line)
            if m:
                results.append((m.group(1), m.group(2), (m.group(3) or "").strip()))
                if current == m.group(1):
                    current = None
                continue
            for tag in ("@@BOOT", "@@DONE", "@@HOST"):
                at = line.find(tag + " ")
                if at >= 0:
                    facts[tag] = line[at + len(tag) + 1:]
            at = line.find("@@BEGIN ")
            if at >= 0:
                current = line[at + 8:].strip()
                suite_lines[current] = []
                continue
            if "@@MISSING" in line:
                facts.setdefault("missing", []).append(line.split("@@MISSING", 1)[1].strip())
            if "@@WARN " in line:
                facts.setdefault("warnings", []).append(line.split("@@WARN ", 1)[1].strip())
            if current is not None:
                suite_lines[current].append(line)
    return results, facts, suite_lines


def suite_counts(name, lines):
    """The runner's own closing numbers, to show what ran (and what skipped)."""
    text = "\n".join(lines)
    if name.startswith("deno."):
        # "ok | 23 passed (188 steps) | 0 failed | 0 ignored (10 steps) (2m12s)"
        m = re.findall(r"^((?:ok|FAILED) \| \d+ passed.*?)(?: \([0-9hms. ]+\))?$", text, re.M)
        if m:
            return "runner: " + m[-1]
    else:
        p = re.findall(r"^\s*(\d+) pass$", text, re.M)
        f = re.findall(r"^\s*(\d+) fail$", text, re.M)
        s = re.findall(r"^\s*(\d+) skip$", text, re.M)
        if p or f:
            return (f"runner: {p[-1] if p else 0} passed, {f[-1] if f else 0} failed, "
                    f"{s[-1] if s else 0} skipped")
    return "runner: no closing line found"


FAILURE_LINE = re.compile(r"fail|error|panic|expected|assert|mismatch|timeout", re.I)


def failure_excerpt(lines, named=40, tail=25):
    """What a failing step printed that says why: every line naming a failure
    (up to `named`), then its last `tail` lines, without repeats."""
    picked = [i for i, l in enumerate(lines) if FAILURE_LINE.search(l)][:named]
    last = range(max(0, len(lines) - tail), len(lines))
    keep = sorted(set(picked) | set(last))
    out, prev = [], None
    for i in keep:
        if prev is not None and i != prev + 1:
            out.append("    ...")
        out.append("    " + lines[i])
        prev = i
    return f"{len(lines)} lines\n" + "\n".join(out)


def host_timings(path):
    """Host seconds per step, from stamp.py's TIMES file."""
    if not os.path.exists(path):
        return "no host timings"
    begun, parts = {}, []
    with open(path) as f:
        for line in f:
            secs, _, marker = line.rstrip("\n").partition(" ")
            t = float(secs)
            words = marker.split()
            if len(words) < 2:
                continue
            tag, name = words[0], words[1]
            if tag == "@@BOOT":
                parts.append(f"boot {t:.1f}")
            elif tag == "@@BEGIN":
                begun[name] = t
            elif tag in ("@@TIME", "@@RESULT") and name in begun:
                parts.append(f"{name} {t - begun.pop(name):.1f}")
            elif tag == "@@DONE":
                parts.append(f"done {t:.1f}")
    return ", ".join(parts)


def fact(facts, tag, key):
    m = re.search(rf"\b{key}=(\S+)", facts.get(tag, ""))
    return m.group(1) if m else "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--all-runs", required=True)
    ap.add_argument("--smoke-only", default="0")
    ap.add_argument("--profile", default="full")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    smoke_only = args.smoke_only == "1"
    runs = args.runs.split()
    out = []
    total_pass = total_fail = 0

    def say(s=""):
        out.append(s)

    meta = {}
    meta_path = os.path.join(args.work, "meta.txt")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            for line in f:
                for kv in line.split():
                    if "=" in kv:
                        k, v = kv.split("=", 1)
                        meta[k] = v
    say("perfmmap arm64 QEMU tier: summary")
    with open(meta_path) as f:
        for line in f:
            say("  " + line.rstrip())
    say()

    # Host-side results (builds).
    host_results, _, _ = parse_log(os.path.join(args.work, "host-results.txt"))
    host_expected = ["host.build.smoke"] + ([] if smoke_only else HOST_PROJECT)
    host_seen = {n for n, _, _ in host_results}
    host_fail = [r for r in host_results if r[1] == "FAIL"]
    host_missing = [n for n in host_expected if n not in host_seen]
    say("host builds:")
    for name, verdict, detail in host_results:
        say(f"  {verdict} {name} {detail}".rstrip())
    for name in host_missing:
        say(f"  MISSING {name}")
    total_pass += sum(1 for r in host_results if r[1] == "PASS")
    total_fail += len(host_fail) + len(host_missing)
    say()

    header = f"{'run':<7} {'pass':>4} {'fail':>4} {'miss':>4} {'wall s':>7} {'guest s':>7}  configuration"
    table = [header, "-" * len(header)]
    details = []
    failure_output = []
    key_lines = []
    timing_lines = []
    guest_warnings = []  # "@@WARN ..." lines: a guest-side retry, said out loud
    for run in runs:
        results, facts, suites = parse_log(os.path.join(args.work, "logs", f"{run}.log"))
        expected = expected_for(run, smoke_only, args.profile)
        verdicts = {}
        for name, verdict, detail in results:
            # A name that failed once stays failed.
            if verdicts.get(name, ("PASS",))[0] != "FAIL":
                verdicts[name] = (verdict, detail)
        missing = [n for n in expected if n not in verdicts]
        passed = sum(1 for v, _ in verdicts.values() if v == "PASS")
        failed = sum(1 for v, _ in verdicts.values() if v == "FAIL")
        problems = []
        if "@@DONE" not in facts:
            problems.append("no @@DONE line: the guest did not finish (crash, panic or timeout)")
        qemu_rc = fact(facts, "@@HOST", "qemu_rc")
        if qemu_rc != "0":
            problems.append(f"qemu exit status {qemu_rc} (124 = host timeout)")
        if not results:
            problems.append("no result lines at all")
        fail_count = failed + len(missing) + len(problems)
        total_pass += passed
        total_fail += fail_count
        table.append(f"{run:<7} {passed:>4} {failed:>4} {len(missing):>4} "
                     f"{fact(facts, '@@HOST', 'wall_secs'):>7} "
                     f"{fact(facts, '@@DONE', 'uptime'):>7}  {RUN_TITLE.get(run, run)}")
        details.append(f"[{run}] {facts.get('@@BOOT', 'no @@BOOT line')}")
        timing_lines.append(f"  {run:<6} {host_timings(os.path.join(args.work, 'logs', f'{run}.times'))}"
                            f", wall {fact(facts, '@@HOST', 'wall_secs')}")
        for name, (verdict, detail) in verdicts.items():
            extra = ""
            if name in SUITES:
                extra = f" [{suite_counts(name, suites[name])}]"
            details.append(f"  {verdict} {name} {detail}{extra}".rstrip())
            if name in KEY_RESULTS:
                key_lines.append(f"  {run:<6} {name}: {detail}{extra}")
            if verdict == "FAIL" and name in suites:
                failure_output.append(f"--- {run} {name}: {failure_excerpt(suites[name])}")
        for name in missing:
            details.append(f"  MISSING {name}")
        for why in facts.get("missing", []):
            details.append(f"  (guest: {why})")
        for p in problems:
            details.append(f"  FAIL {p}")
        guest_warnings += [f"{run}: {w}" for w in facts.get("warnings", [])]
    skipped = [r for r in args.all_runs.split() if r not in runs]
    say("\n".join(table))
    if skipped:
        say(f"NOT RUN: {' '.join(skipped)} (--runs)")
        total_fail += len(skipped)
    say()
    say("key numbers:")
    say("\n".join(key_lines) if key_lines else "  (none)")
    say()
    say("host seconds per step (BEGIN to result; guest clocks are virtual under icount):")
    say("\n".join(timing_lines))
    say()
    say("all results:")
    say("\n".join(details))
    warnings_path = os.path.join(args.work, "warnings.txt")
    warnings = []
    if os.path.exists(warnings_path):
        with open(warnings_path) as f:
            warnings = [w.strip() for w in f if w.strip()]
    warnings += guest_warnings
    if warnings:
        say()
        for w in warnings:
            say(f"WARNING: {w}")
    if failure_output:
        # Last, so the tail of a CI log (often all that is kept) names the
        # failing test and its message, not only the step.
        say()
        say("output of the failing steps (the lines that name a failure, then the last lines):")
        say("\n".join(failure_output))
    say()
    verdict = "PASS" if total_fail == 0 else "FAIL"
    say(f"arm64 tier {verdict} after {meta.get('total_secs', '?')} s")
    # The plain closing line CI reads.
    say(f"arm64: {total_pass} passed, {total_fail} failed")
    text = "\n".join(out) + "\n"
    with open(args.out, "w") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0 if total_fail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
