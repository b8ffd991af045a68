#!/usr/bin/env python3
"""Turns criterion's samples into BENCHMARKS.md: min/median/max per iteration over every sample,
each figure beside its same-run baseline, and whether its target holds."""
import datetime, json, os, platform, statistics, subprocess, sys

TARGET_DIR = os.environ.get("CARGO_TARGET_DIR", "target")
BASELINE = "baseline_sha256_100b"
# name -> (what it is, target ratio to the baseline or None)
ROWS = [
    (BASELINE, "raw SHA-256 of 100 bytes (baseline)", None),
    ("token_sign", "link token: sign", None),
    ("token_verify", "link token: verify (base64url, kid, MAC, payload, expiry)", 3.0),
    ("seal", "consent event: canonical encoding + HMAC seal", None),
    ("seal_verify", "consent event: verify seal", 3.0),
]


def per_iteration_ns(name):
    path = os.path.join(TARGET_DIR, "criterion", name, "new", "sample.json")
    with open(path) as f:
        s = json.load(f)
    return [t / i for t, i in zip(s["times"], s["iters"])]


def fmt(ns):
    return f"{ns / 1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"


def cpu():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    base = statistics.median(per_iteration_ns(BASELINE))
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; "
        f"{cpu()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
        f"{subprocess.run(['rustc', '--version'], capture_output=True, text=True).stdout.strip()}.",
        "",
        "Each figure is the time per operation over criterion's samples (min / median / max), and its",
        "median as a ratio to the same run's baseline. A missed target says so.",
        "",
        "## Crypto",
        "",
        "| operation | min | median | max | × baseline | target |",
        "|---|---|---|---|---|---|",
    ]
    missed = []
    for name, what, target in ROWS:
        xs = per_iteration_ns(name)
        med = statistics.median(xs)
        ratio = med / base
        verdict = "—" if target is None else (f"≤ {target:g}× ✓" if ratio <= target else f"≤ {target:g}× **missed**")
        if target is not None and ratio > target:
            missed.append(name)
        lines.append(f"| {what} | {fmt(min(xs))} | {fmt(med)} | {fmt(max(xs))} | {ratio:.2f} | {verdict} |")
    lines += [
        "",
        "## Not measured yet",
        "",
        "Request cost against a bare hyper server, cold start against a hello-world `lambda_http` binary,",
        "the 10,000-recipient fan-out against the emulator's direct rate, zip sizes and peak RSS: see the",
        "issue \"Benchmarks\" for what is left and why.",
        "",
    ]
    with open("BENCHMARKS.md", "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    if missed:
        print("targets missed: " + ", ".join(missed), file=sys.stderr)


if __name__ == "__main__":
    main()
