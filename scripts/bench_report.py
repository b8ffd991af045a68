#!/usr/bin/env python3
"""Turns criterion's samples into BENCHMARKS.md: min/median/max per iteration over every sample,
each figure beside its same-run baseline, and whether its target holds."""
import datetime, json, math, os, platform, re, statistics, subprocess, sys

TARGET_DIR = os.environ.get("CARGO_TARGET_DIR", "target")
BASELINE = "baseline_sha256_100b"
HMAC_FLOOR = "baseline_hmac_canonical"
FUNCTIONS = ["intake", "operator", "links", "notifier", "deadline-watch", "retention-sweep", "ses-events"]
# name -> (what it is, target ratio to the SHA-256 baseline or None, target ratio to the HMAC floor or None)
ROWS = [
    (BASELINE, "raw SHA-256 of 100 bytes (baseline)", None, None),
    ("token_sign", "link token: sign", None, None),
    ("token_verify", "link token: verify (base64url, kid, MAC, payload, expiry)", 3.0, None),
    ("seal", "consent event: canonical encoding + HMAC seal", None, None),
    (HMAC_FLOOR, "bare HMAC-SHA256 over the event's canonical bytes (the seal's floor)", None, None),
    ("seal_verify", "consent event: verify seal", None, 1.25),
]


def crypto_rounds():
    """Per round (zgoda-bench crypto's criterion groups), each benchmark's time per iteration."""
    root = os.path.join(TARGET_DIR, "criterion")
    rounds = []
    while os.path.isdir(os.path.join(root, f"crypto_round_{len(rounds) + 1}")):
        group = os.path.join(root, f"crypto_round_{len(rounds) + 1}")
        samples = {}
        for name, *_ in ROWS:
            with open(os.path.join(group, name, "new", "sample.json")) as f:
                s = json.load(f)
            samples[name] = [t / i for t, i in zip(s["times"], s["iters"])]
        rounds.append(samples)
    if not rounds:
        sys.exit(f"no crypto rounds under {root}: run `zgoda-bench crypto` first")
    return rounds


def round_ratio(values, baselines):
    """The median over rounds of a figure over its baseline in the same round (the lists are
    per round, in order)."""
    return statistics.median(x / b for x, b in zip(values, baselines, strict=True))


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
    rounds = crypto_rounds()
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}; "
        f"{cpu()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
        f"{subprocess.run(['rustc', '--version'], capture_output=True, text=True).stdout.strip()}.",
        "",
        "Each figure is an absolute value (min / median / max over the runs) beside its ratio to a",
        "baseline measured in the same run. A missed target says so.",
        "",
        "## Crypto",
        "",
        f"Time per operation over criterion's samples in {len(rounds)} rounds; each round measures the baseline and",
        "every operation a few seconds apart, and the ratio is the median of the rounds' ratios (median",
        "over median), so a drift in the machine's speed between rounds does not enter it.",
        "",
        "A link token's verify is held to the SHA-256 (below 3×); a seal's verify to a bare HMAC-SHA256 over",
        "the same canonical bytes from the same keyed state (≤ 1.25×: what reading the seal's hex and",
        "encoding the fields as they are fed to the MAC may add).",
        "",
        "| operation | min | median | max | × SHA-256 | × HMAC floor | target |",
        "|---|---|---|---|---|---|---|",
    ]
    missed = []
    medians = lambda name: [statistics.median(r[name]) for r in rounds]
    for name, what, target, floor_target in ROWS:
        xs = [x for r in rounds for x in r[name]]
        med = statistics.median(xs)
        ratio = round_ratio(medians(name), medians(BASELINE))
        floor = round_ratio(medians(name), medians(HMAC_FLOOR))
        if target is not None:
            ok, shown = ratio < target, f"< {target:g}× SHA-256"
        elif floor_target is not None:
            ok, shown = floor <= floor_target, f"≤ {floor_target:g}× HMAC floor"
        else:
            ok, shown = True, None
        if not ok:
            missed.append(name)
        verdict_text = "—" if shown is None else f"{shown} {'✓' if ok else '**missed**'}"
        floor_shown = f"{floor:.2f}" if name in ("seal_verify", "seal", HMAC_FLOOR) else "—"
        lines.append(f"| {what} | {fmt(min(xs))} | {fmt(med)} | {fmt(max(xs))} | {ratio:.2f} | {floor_shown} | {verdict_text} |")
    system_path = os.path.join(TARGET_DIR, "bench", "system.json")
    if os.path.exists(system_path):
        with open(system_path) as f:
            lines += system_sections(json.load(f), missed)
    lines += package_section(missed)
    lines.append("")
    with open("BENCHMARKS.md", "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    if missed:
        print("targets missed: " + ", ".join(missed), file=sys.stderr)


def times(ratio):
    """A ratio as the tables show it: two decimals near a target, whole numbers far from one."""
    return f"{ratio:.2f}" if ratio < 10 else f"{ratio:.0f}"


def spread(xs, f):
    return f"{f(min(xs))} / {f(statistics.median(xs))} / {f(max(xs))}"


def verdict(ok, text=""):
    return f"{text} ✓".strip() if ok else f"{text} **missed**".strip()


def system_sections(d, missed):
    """Cold start and request cost from zgoda-bench's JSON (target/bench/system.json)."""
    ms = lambda x: f"{x:.1f} ms"
    us = lambda x: f"{x:.0f} µs" if x >= 10 else f"{x:.1f} µs"
    mib = lambda kib: f"{kib / 1024:.1f} MB"
    cold = d["cold_start"]
    hello = cold[0]["cold_ms"]
    lines = [
        "",
        "## Cold start",
        "",
        "Each binary started by exec against a minimal Lambda Runtime API on loopback, timed to its first",
        f"completed invocation of the sample event named (a fresh process each time, {len(hello)} rounds of every",
        "binary in turn; the ratio is the median of the rounds' ratios); then 20 warm invocations and the",
        "process's peak RSS. Each function reads only the key rings it uses from the emulator's Secrets",
        "Manager (one BatchGetSecretValue call, sent as it starts, awaited by the first invocation that",
        "needs a key; ses-events and the retention sweep read them only for an event or a run that needs",
        "one, which their samples do not); the hello binary loads nothing.",
        "Every binary, hello too, runs on a current-thread tokio runtime, as the functions do, and is",
        "started from a copy written in one go, as Lambda unpacks a function's zip. Started from the file",
        "the linker had just written, every binary took longer on this machine: hello 2.2–2.3 ms in 5",
        "runs of 15 rounds, 2.0–2.1 ms from copies of the same build; links 2.03× hello's (median of those",
        "5), 1.81× and 1.86× in 2 runs from copies. The cause was not pinned down beyond the page cache",
        "the linker's writes leave behind.",
        "The first invocation's own work against the emulator is in the cold time too, so the start-up",
        "compared is cold − warm: each round's cold time less that round's warm invocation, beside hello's",
        "in the same round (the ratio is the median of the rounds'). It still holds what only a first call",
        "pays: new connections to the emulator and, for intake, the form definition's read. The CPU",
        "columns set those waits aside: the process's own CPU time (the scheduler's account of its",
        "threads, read as its first answer and its last arrive, while it waits for the runtime's reply)",
        "from exec to its first answer, less a warm invocation's, beside hello's in the same round. They",
        "have no target; they say how much of a function's start-up is its own work.",
        "",
        "| binary | event | cold (median) | warm invocation (median) | start-up: cold − warm (min / median / max) | × hello's | target ≤ 2× | CPU start-up (median) | × hello's CPU | peak RSS (max) | target ≤ 40 MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    # Each round's cold figure (ms) less its warm invocation's (µs): on the clock, and in CPU.
    cold_less_warm = lambda c, cold, warm: [x - w / 1000 for x, w in zip(c[cold], c[warm], strict=True)]
    start_up = lambda c: cold_less_warm(c, "cold_ms", "warm_us")
    cpu_start_up = lambda c: cold_less_warm(c, "cold_cpu_ms", "warm_cpu_us")
    hello_start = start_up(cold[0])
    hello_cpu_start = cpu_start_up(cold[0])
    for c in cold:
        med = statistics.median(c["cold_ms"])
        rss = max(c["peak_rss_kib"])
        is_hello = c is cold[0]
        ratio = round_ratio(start_up(c), hello_start)
        start_ok = ratio <= 2
        rss_ok = rss <= 40 * 1024
        if not is_hello:
            if not start_ok:
                missed.append(f"start-up {c['name']}")
            if not rss_ok:
                missed.append(f"peak RSS {c['name']}")
        warm = us(statistics.median(c["warm_us"]))
        cpu_ratio = round_ratio(cpu_start_up(c), hello_cpu_start)
        lines.append(
            f"| {c['name']} | `{c['event']}` | {ms(med)} | {warm} | {spread(start_up(c), ms)} | {times(ratio)} | "
            f"{'baseline' if is_hello else verdict(start_ok)} | {ms(statistics.median(cpu_start_up(c)))} | {times(cpu_ratio)} | "
            f"{mib(rss)} | {'—' if is_hello else verdict(rss_ok)} |"
        )
    lines += [
        "",
        "### Where a start-up goes",
        "",
        "Timed with marks in instrumented binaries (15 cold starts of each, this machine, December 2026;",
        "links's medians):",
        "",
        "- exec to `main`: 1.8 ms, as hello's exec to its runtime 2.0 ms (both binaries are about 25 MB;",
        "  about a millisecond of it is the dynamic loader relocating them, perf);",
        "- configuration and the SDK: 0.4 ms;",
        "- the key rings' read: 2.6 ms from sent to parsed, about 1 ms of it the emulator's answer on a new",
        "  connection, the rest the Secrets Manager client's first call (its endpoint rules and partition",
        "  table, the process's one TLS configuration, signing). The read is sent as the function starts",
        "  and awaited when the first event needs the app (`Starting`), so the runtime's start and its",
        "  first poll run inside it; the first event then waits about 1.3 ms for it.",
        "",
        "### Tried and kept",
        "",
        "Each shown in runs of 15 rounds beside the build before it, where a ratio is given.",
        "",
        "- A current-thread runtime.",
        "- The rings' read overlapped with the runtime's start: about 0.5 ms here, a whole Secrets Manager",
        "  round trip and TLS handshake in AWS.",
        "- The rings' read sent a poll after the start, once the runtime has asked for the first event. Its",
        "  first call's own work, about a millisecond on the one thread, had come before that poll, so the",
        "  rings were in before the event and intake's form read followed them; now the two round trips",
        "  overlap (strace). 3 pairs: intake 3.74×, 3.21× and 3.63× before, 3.60×, 3.11× and 3.36× after;",
        "  links and operator unchanged.",
        "- Each SDK client built on its first call, or while the first event waits for its rings (four",
        "  clients at start were 0.7–0.9 ms). A client the function names is built while the read is out,",
        "  but not once it is in: built after it, they held the first event back by up to 0.35 ms, for",
        "  links's privacy page, which uses none.",
        "- The region taken from `AWS_REGION` rather than the provider chain (0.1 ms).",
        "- Templates compiled on first render instead of all 37 at the first page or mail (about 1 ms of",
        "  links's first invocation); texts read by section, the 3–4 a page shows parsed and converted",
        "  rather than all 47 (about 0.1 ms of a first page).",
        "- Intake's first post reads its form while the rings are out, and is served from that read. In 5",
        "  pairs of runs, old and new build alternating: 3.40–3.99× hello's before (median 3.75×, start-up",
        "  7.9 ms), 3.12–3.52× after (median 3.27×, 6.8 ms), lower in every pair; whole `make bench` runs",
        "  put intake higher, 3.99× before, 3.69× and 3.79× after. In AWS the form's DynamoDB round trip",
        "  and TLS handshake overlap the rings'.",
        "- Only the function's own key rings, in one call whatever their number: what it saves is exposure,",
        "  not time.",
        "- What needs no key answered without waiting for the rings (in AWS each spares the first event a",
        "  Secrets Manager round trip and TLS handshake):",
        "  - ses-events' record of a delivery or a send on its breach notice: 2.68× and 2.50× hello's",
        "    before, 2.08×, 2.22× and 2.11× after. Then its rings read only for a bounce or a complaint, so",
        "    a delivery neither waits for nor shares its thread with the read: 1.86× and 1.87×, against",
        "    2.11× in between.",
        "  - links's privacy page, made from the settings alone: 1.55× and 1.54×, against 2.21×, 1.91× and",
        "    2.13× before.",
        "  - the operator's console files and its 401 to a request that carries no signature: 1.65× and",
        "    1.64×, against 2.00× twice.",
        "- The notifier reads an escalation's notice once for all the recipients it sends to at once,",
        "  instead of once each, every read on a new connection of its own (a cold instance's first message",
        "  made up to ten reads of the whole breach partition). The sample batch's two recipients: 2.26×,",
        "  2.09× and 2.10× hello's before, 1.90×, 1.83× and 1.90× after; its warm batch 1.7 ms before, 1.1",
        "  ms after.",
        "- The retention sweep reads its rings only when a run comes to an erasure, so its usual run reads",
        "  none. 3 pairs: 2.53×, 3.19× and 2.25× before, 2.18×, 1.62× and 3.09× after; the rings' wait,",
        "  about 1 ms of its first run, is smaller than the run-to-run spread of its 30 ms of emulator",
        "  work.",
        "- The deadline watch reads the breach register once a run for its reminders and its follow-ups,",
        "  not twice: a listing and a read per breach saved every run (here 3 queries a run instead of 4,",
        "  in the cold run and the warm ones alike).",
        "- A function with no key ring (the deadline watch, the notifier, webhook delivery) builds no",
        "  Secrets Manager client; the rings' loader used to build it before finding no ring to read.",
        "  Marks, 15 cold starts of the deadline watch: its first event waited 0.27 ms for its app, now",
        "  0.02 ms. 3 pairs of runs: the notifier 1.82×, 1.88× and 1.81× before, 1.73×, 1.78× and 1.72×",
        "  after.",
        "",
        "### What remains: why intake and the deadline watch miss",
        "",
        "- Each service's first call costs about a millisecond more than its later ones, once per process.",
        "  A client's first DynamoDB call outside the functions (10 fresh processes): 1.4 ms, against 0.7",
        "  ms for the next, the client built in 0.25 ms before it. perf puts about 60 µs of it in CPU",
        "  feature detection (std_detect's and sha2's: CPUID exits to the hypervisor in a virtual machine),",
        "  the rest spread through the SDK's orchestrator, run for the first time.",
        "- The emulator's first answers. A function's first call to a service goes on a new connection, to",
        "  an emulator that sat idle while the function started; a warm invocation's goes on a kept",
        "  connection right after the last. moto answers both later. Raw HTTP, the same GSI query on a",
        "  1,500-item table, 40 rounds each: 0.66 ms later on a new connection than on a kept one, and 1.0",
        "  ms later after 5 ms idle than right after another.",
        "- So in CPU (the table's last ratio) the functions' start-ups are much nearer hello's than on the",
        "  clock: within 1.7× hello's for every function but intake, about 2× for intake.",
        "- The deadline watch (marks, 20 cold starts, medians): configuration and the SDK take 0.24 ms",
        "  after `main`, and the runtime's start and first event 0.4 ms. Its first query then ends 2.0 ms",
        "  later than a warm run's, 0.66 ms of it its own CPU (the DynamoDB client built and its first",
        "  call), the rest waiting. Its start-up is also the difference of two 15–30 ms runs of emulator",
        "  work (its min / max above), so its ratio moves between rounds and between runs by more than the",
        "  margin: 2.31× in the `make bench` before it stopped building a Secrets Manager client, 2.15×",
        "  and 2.09× in two after, 1.53× to 2.06× in cold-start runs of that build.",
        "- Intake's first post (marks in an instrumented build, 10 cold starts, 2026-12-07, medians from",
        "  its `main`): its event is in 1.5 ms after `main` (configuration, the SDK, and the rings' call's",
        "  own first-call work, which shares the thread with the runtime's poll). The rings come 2.2 ms",
        "  later and the form 1.0 ms after them; the thread is idle for about 2.3 ms of those 3.2, waiting",
        "  on the emulator. Then 8.9 ms to its first mail's call (a warm post: 7.9 ms from its event), and",
        "  2.1 ms for that call (warm: 1.7 ms). It makes first calls to three services, Secrets Manager,",
        "  DynamoDB and SES, each with its first-call work on the one thread, and reads its form, which a",
        "  warm post finds held. Its own CPU start-up alone is about 2× hello's (the table), so the",
        "  emulator's waits put it over. Where that CPU goes (perf at 10 kHz over 15 cold starts, each",
        "  sample placed by its stack; the first post's window from `main` less a warm post's): page",
        "  faults 0.57 ms, most of them the heap growing onto fresh pages, 0.09 ms of them code; the",
        "  SDK's orchestrator 0.35 ms; allocation 0.18 ms; the kernel's TCP 0.18 ms (three new",
        "  connections, and the two reads a warm post does not make); hyper 0.16 ms; templates 0.11 ms;",
        "  JSON parsing 0.09 ms; zgoda's own code 0.07 ms; the TLS configuration 0.05 ms; CPU feature",
        "  detection 0.05 ms. The heap's faults come with the allocations themselves, which malloc",
        "  places on fresh pages wherever in the process they are made; no single part is ours to cut",
        "  by much.",
        "",
        "### Tried and dropped",
        "",
        "- A query sent at start to open DynamoDB's connection and pay its first call early. 2 pairs of",
        "  runs: ses-events 2.54× and 2.48× without, 2.75× and 2.53× with; links and operator, whose first",
        "  events use no DynamoDB, 0.2–0.4× slower, its work sharing their one thread.",
        "- The notifier's DynamoDB client built while the runtime fetches its first event. 2 pairs: 2.05×",
        "  and 2.18× with, 2.28× and 2.06× without: within the noise.",
        "- Intake's early form read sent before the clients are built rather than after. One run of 10",
        "  rounds: 3.20×, against 3.19× the run before; on the one thread the work only moves.",
        "- An endpoint resolver fixed to each service's regional URL instead of the SDK's endpoint rules. A",
        "  client's first DynamoDB call, 10 fresh processes each: 1.39 ms against 1.43 ms, within the",
        "  noise; it would also give up the SDK's FIPS and dual-stack endpoints and other partitions.",
        "- Transparent huge pages for the functions' heap (glibc's `glibc.malloc.hugetlb=1`; in a test",
        "  process it backs the heap with huge pages), so that it grows by one fault per 2 MB rather than",
        "  one per 4 KB page. Page faults by a function's first answer, medians of 15 cold starts: hello",
        "  369, intake 573, the deadline watch 455. 2 pairs of runs: intake 3.11× and 3.45× hello's",
        "  without, 3.43× and 3.56× with; the deadline watch 2.06× and 2.37× without, 2.26× and 2.06× with:",
        "  no gain beyond the noise. Nor would it reach Lambda: the tunable is newer than provided.al2023's",
        "  glibc (2.34).",
        "",
    ]
    rc = d["request_cost"]
    hello_cpu = [r["server_cpu_us_per_request"] for r in rc["hello"]]

    def paired_ratio(key):
        return round_ratio([r["server_cpu_us_per_request"] for r in rc[key]], hello_cpu)

    lines += [
        "",
        "## Request cost",
        "",
        "Server CPU time (the scheduler's per-thread account, /proc/<pid>/task/*/schedstat) per request under a closed loop of 8 concurrent",
        "connections on loopback. zgoda is the local stack in one process (every route, optimized); the",
        "baseline is a bare hyper server answering \"hello\". The emulator runs in processes of its own",
        "(DynamoDB in one, the other services in another) and is not counted; it sets the achieved rate.",
        f"The run is {len(hello_cpu)} rounds, each a load run of every request below, hello's first; the ratio",
        "is the median of the rounds' ratios, each to hello's run in its own round. A form post's run",
        "counts the server's CPU until it is idle again, so the SES events of the mails it sent are in it.",
        "",
        "| request | server CPU per request (min / median / max) | × hello | target | achieved rate (median) | answers |",
        "|---|---|---|---|---|---|",
    ]
    # key -> (what it is, target: ("×", ratio to hello) or ("µs", absolute CPU per request) or None)
    for key, what, target in [
        ("hello", "hello (hyper, baseline)", None),
        ("link_get", "link page GET as a browser sends it, with Accept-Language (token verify, page render; no database read)", ("×", 2.0)),
        ("health", "health check GET: one DynamoDB call (DescribeTable), the server's side included", None),
        ("form_post", "1 KB urlencoded form POST (checks, counters, sealed transaction, the owner's mail, its SES event)", ("µs", 2000)),
    ]:
        runs = rc.get(key)
        if not runs:
            continue
        cpu = [r["server_cpu_us_per_request"] for r in runs]
        ratio = paired_ratio(key)
        answers = {}
        for r in runs:
            for status, n in r["statuses"].items():
                answers[status] = answers.get(status, 0) + n
        if target is None:
            tgt = "—"
        else:
            unit, most = target
            ok = ratio <= most if unit == "×" else statistics.median(cpu) <= most
            if not ok:
                missed.append(f"request cost {key}")
            tgt = verdict(ok, f"≤ {most:g}×" if unit == "×" else f"≤ {most / 1000:g} ms")
        rate = statistics.median(r["requests_per_second"] for r in runs)
        shown = ", ".join(f"{n}× {s}" for s, n in sorted(answers.items()))
        lines.append(f"| {what} | {spread(cpu, us)} | {times(ratio)} | {tgt} | {rate:.0f}/s | {shown} |")
    if rc.get("form_post_calls"):
        lines += form_post_calls_section(rc["form_post_calls"], missed)
    if rc.get("sdk_call"):
        lines += sdk_call_section(rc["sdk_call"], missed)
    m = d.get("mixed_load")
    if m:
        server_errors = sum(n for status, n in m["statuses"].items() if int(status) >= 500 or int(status) == 0)
        flat = m["rss_last_10s_kib"] <= m["rss_first_10s_kib"] * 1.10
        if server_errors:
            missed.append("mixed load 5xx")
        if not flat:
            missed.append("mixed load memory")
        shown = ", ".join(f"{n}× {s}" for s, n in sorted(m["statuses"].items()))
        # The stack logs why each 503 happened; count those where the emulator itself broke (moto
        # answers HTTP 500 when concurrent transactions race its whole-table copy).
        emulator_500s = 0
        log_path = os.path.join(TARGET_DIR, "bench", "stack.log")
        if os.path.exists(log_path):
            for line in open(log_path, errors="replace"):
                if '"dependency failed"' in line and "StatusCode(500)" in line and "Werkzeug" in line:
                    emulator_500s += 1
        lines += [
            "",
            "## Mixed load",
            "",
            f"{m['seconds']} s of mixed traffic from 8 connections against the local stack (3 in 10 requests a",
            "new form post, 4 a link page, 1 a one-click unsubscribe, 2 a signed operator read):",
            "",
            "| requests | achieved rate | answers | 5xx | RSS first 10 s → last 10 s | target: no 5xx, memory flat (≤ +10 %) |",
            "|---|---|---|---|---|---|",
            f"| {m['requests']} | {m['requests_per_second']:.0f}/s | {shown} | {server_errors} | "
            f"{mib(m['rss_first_10s_kib'])} → {mib(m['rss_last_10s_kib'])} | {verdict(not server_errors and flat)} |",
        ]
        if server_errors:
            lines += [
                "",
                f"Every 503 is zgoda's `service_unavailable` after a dependency failed: over the whole benchmark the",
                f"stack's log (`target/bench/stack.log`) names {emulator_500s} answered by the emulator itself with",
                "HTTP 500 to all three of the SDK's attempts. The fault tests show such a 503 leaves nothing half-written.",
            ]
        else:
            lines += [
                "",
                "The emulator runs the DynamoDB requests on one table one at a time (`crates/local/src/emulator.py`):",
                "unrepaired, moto failed concurrent transactions with HTTP 500, which DynamoDB never does.",
            ]
    f = d.get("fanout")
    if f:
        lines += fanout_section(f, missed)
    rss = d["peak_rss_kib"]
    lines += ["", f"Peak RSS after the load: local stack {mib(rss['local_stack'])}, hello server {mib(rss['hello_http'])}."]
    return lines


def form_post_calls_section(c, missed):
    """The AWS calls a form post makes, as the emulator counted them."""
    posts = c["posts"]
    ops = c["by_operation"]
    path = {op: n for op, n in ops.items() if not op.startswith("sqs:")}
    after = {op: n for op, n in ops.items() if op.startswith("sqs:")}
    # The form definition is read once a minute per warm instance, not per post.
    form_reads = path.get("dynamodb:Query", 0)
    per_post = (sum(path.values()) - form_reads) / posts
    ok = per_post <= 4
    if not ok:
        missed.append("calls per form post")
    lines = [
        "",
        "### AWS calls per form post",
        "",
        f"Counted by the emulator itself (`crates/local/src/emulator.py` counts the calls it answers) over the",
        f"{posts} form posts above, each a new person ticking the contact purpose, with the owner's notice mail.",
        "Calls on the request path are DynamoDB's and SES's; SQS's come after the answer (the mail's SES",
        "event, taken from its queue and deleted).",
        "",
        "| call | per post |",
        "|---|---|",
    ]
    for op, n in sorted(path.items()):
        note = " (the form definition, held 60 s per warm instance)" if op == "dynamodb:Query" else ""
        lines.append(f"| {op}{note} | {n / posts:.2f} |")
    lines += [
        f"| **on the request path, the form read aside** | **{per_post:.2f}** ({verdict(ok, '≤ 4')}) |",
    ]
    for op, n in sorted(after.items()):
        lines.append(f"| {op} (after the answer) | {n / posts:.2f} |")
    lines += [
        "",
        "The four: one TransactWriteItems counts the post against its network's and its person's limits and",
        "its mail against the hour's public mail budget; one BatchGetItem reads the person's chain head and",
        "suppression; one TransactWriteItems writes the sealed events, state, profile and submission; one",
        "SendEmail. A double opt-in post sends a confirmation as well: five.",
    ]
    return lines


# Where a profile's samples go, by symbol: the first rule that matches a sample's (library, symbol) wins.
PROFILE_LAYERS = [
    ("kernel: scheduling and wake-ups", lambda d, s: d.startswith("[kernel") and re.search(r"task_switch|schedule|futex|wake|spin_unlock|irqentry|syscall|epoll|hrtimer", s)),
    ("kernel: TCP on loopback", lambda d, s: d.startswith("[kernel")),
    ("allocator and copies (libc)", lambda d, s: d.startswith("libc") and re.search(r"malloc|free|memmove|memcpy|realloc|unlink_chunk|consolidate|memset|memcmp", s)),
    ("signing (SigV4: canonical request, SHA-256, HMAC)", lambda d, s: re.search(r"aws_sigv4|sha2::|hmac|Sha256|sha256", s)),
    ("JSON: the request written, the answer parsed", lambda d, s: re.search(r"aws_smithy_json|protocol_serde|serde_json|ryu|itoa", s)),
    ("SDK orchestrator: interceptors, config bag, endpoint, retry, identity", lambda d, s: re.search(r"aws_smithy_runtime|aws_smithy_types|aws_types|aws_runtime|aws_sdk_|aws_config|aws_credential|nterceptor|config_bag|TypeErased", s)),
    ("HTTP client: hyper, http, headers", lambda d, s: re.search(r"hyper|http::|h1::|httparse|bytes::", s)),
    ("tokio", lambda d, s: re.search(r"tokio", s)),
    ("Rust allocation, hashing and formatting", lambda d, s: re.search(r"alloc::|__rust|__rdl|RawVec|fmt::|hashbrown|BuildHasher|from_utf8|drop_in_place", s)),
]


def profile_layers(path):
    """perf's samples of `path`, as shares by layer; None when perf cannot read them."""
    try:
        out = subprocess.run(["perf", "report", "-i", path, "--no-children", "--sort", "dso,symbol", "--stdio", "-g", "none"],
                             capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    shares = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.*)", line)
        if not m:
            continue
        pct, dso, sym = float(m.group(1)), m.group(2), m.group(3)
        layer = next((name for name, rule in PROFILE_LAYERS if rule(dso, sym)), "other")
        shares[layer] = shares.get(layer, 0) + pct
    return shares or None


def sdk_call_section(c, missed):
    """One SDK call's CPU on its own, on either runtime, and where it goes."""
    us = lambda x: f"{x:.0f} µs"
    cpu = c["cpu_us_per_call"]
    get_item = statistics.median(cpu["get_item"])
    ok = get_item <= 250
    if not ok:
        missed.append("CPU per SDK call")
    lines = [
        "",
        "### One SDK call",
        "",
        f"{c['calls_per_round']} calls in a row from the bench's own process to the emulator's DynamoDB, through a",
        "client built from the functions' SDK configuration (`zgoda_aws::sdk_defaults`), in as many rounds as",
        "the load runs; the process's CPU per call, no HTTP server around it. First on a current-thread",
        "runtime, as the functions and the local stack now run, then on a multi-thread runtime as they ran before.",
        "",
        "| call | current-thread runtime (min / median / max) | multi-thread runtime (min / median / max) | target ≤ 250 µs |",
        "|---|---|---|---|",
        f"| GetItem (one small item) | {spread(cpu['get_item'], us)} | {spread(cpu['get_item_multi_thread'], us)} | {verdict(ok)} |",
        f"| DescribeTable (the health check's call; a larger answer) | {spread(cpu['describe_table'], us)} | {spread(cpu['describe_table_multi_thread'], us)} | — |",
    ]
    shares = profile_layers(c["profile"]) if c.get("profile") else None
    if shares is None:
        lines += ["", "No profile: `perf` was not available to sample the calls."]
    else:
        lines += [
            "",
            f"Where a GetItem's CPU goes on the current-thread runtime ({c['calls_per_round']} more calls sampled by `perf record`,",
            "each sample put under the first layer its symbol belongs to):",
            "",
            "| layer | share | about |",
            "|---|---|---|",
        ]
        total = sum(shares.values())
        for layer, pct in sorted(shares.items(), key=lambda kv: -kv[1]):
            lines.append(f"| {layer} | {pct / total * 100:.0f} % | {us(get_item * pct / total)} |")
    lines += [
        "",
        "What the project controls, and what was done: the clients and their identity cache are built once",
        "per instance from one SDK configuration (`Clients::from_env`) and the endpoint is fixed by it; the",
        "stalled-stream protection, an interceptor and a timer-watched body on every call, is off (each",
        "attempt is cut after 4 s anyway); and the functions run on a current-thread runtime, so the",
        "answer wakes the waiting task on the thread it runs on instead of another, which is where the",
        "multi-thread runtime's extra CPU went (the kernel's scheduling and wake-ups). What remains is the",
        "SDK's own orchestration (a config bag and a dozen interceptors per call), hyper, SigV4 and the",
        "kernel's loopback TCP, none of which a configuration removes.",
    ]
    return lines


def fanout_section(f, missed):
    """The fan-out, its direct baseline, and the run with the notifier killed."""
    mib = lambda kib: f"{kib / 1024:.1f} MB"
    if "error" in f:
        missed.append("fan-out")
        return ["", "## Fan-out", "", f"**The fan-out broke off:** {f['error']}"]
    direct = f["direct"]
    ratio = f["recipients_per_second"] / direct["recipients_per_second"]
    rate_ok = ratio >= 0.70
    rss_ok = f["notifier_peak_rss_kib"] <= 64 * 1024
    all_sent = f["sent"] == f["recipients"] and f["failed"] == 0 and f["pending"] == 0
    k = f["kill_run"]
    kp = k["progress"]
    once_each = kp["sent"] == k["recipients"] and kp["failed"] == 0 and kp["pending"] == 0 and k["mails"] == k["recipients"]
    for ok, name in [(rate_ok, "fan-out rate"), (rss_ok, "fan-out memory"), (all_sent, "fan-out delivery"), (once_each, "kill run")]:
        if not ok:
            missed.append(name)
    per = f["recipients"] // f["escalations"]
    left = f" ({f['pending']:,} still pending)" if f["pending"] else ""
    return [
        "",
        "## Fan-out",
        "",
        f"Breach notices to {f['recipients']:,} people through the local stack: {f['escalations']} escalation(s) of",
        f"{per:,} explicit addresses on one breach (the API's 64 KiB body holds about 2,000), timed from the",
        "first escalation request to the last recipient recorded: outbox, SQS, the notifier (its own",
        "process, `zgoda-local notifier`, send pacing lifted), SES. Meanwhile the emulator's count of sent",
        "mail, not the outbox, says when to look: a progress read counts the whole outbox, which, read",
        "every few seconds, took a quarter of the emulator's time. The baseline issues the notifier's",
        f"SDK calls for {direct['recipients']:,} recipients straight at the emulator, in its shape and through the",
        "product's own store and mailer: outbox items written 25 a call, one SQS message per 50, polls",
        "of 10 messages, 10 recipients of each at once (the claim, the contact read, the rendered and",
        "tagged notice sent through the configuration set, the finish), and SES's Send events recorded",
        "as ses-events does (polls of 10, each the store's read and, if the notifier has not recorded",
        "it yet, the conditional write; a batch delete). So the ratio is",
        "what the notifier's own work costs: SQS event handling, pacing, its process. Memory is",
        "the notifier process's peak resident set.",
        "",
        "| recipients | time | rate | emulator direct rate | ratio | target ≥ 70 % | sent / failed | notifier peak RSS | target ≤ 64 MB |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {f['recipients']:,} | {f['seconds']:.0f} s | {f['recipients_per_second']:.1f}/s | "
        f"{direct['recipients_per_second']:.1f}/s | {ratio * 100:.0f} % | {verdict(rate_ok)} | "
        f"{f['sent']:,} / {f['failed']}{left} {'✓' if all_sent else '**missed**'} | "
        f"{mib(f['notifier_peak_rss_kib'])} | {verdict(rss_ok)} |",
        "",
        "### Notifier killed at random points",
        "",
        f"Another {k['recipients']:,} people, the notifier process killed with SIGKILL {k['kills']} times at random",
        "moments (5–15 s apart) and started again at once. What a killed notifier had claimed waits for",
        "its lease (60 s) and the queue's redelivery (90 s here). A notice SES accepted just before a kill",
        "is recorded by its Send event (ses-events), so the notifier that takes the recipient over finds",
        "it finished; the emulator's own count of mail sent during the run says how many notices left.",
        "",
        "| recipients | kills | time | recorded sent / failed / still pending | mails the emulator sent | target: each exactly once |",
        "|---|---|---|---|---|---|",
        f"| {k['recipients']:,} | {k['kills']} | {k['seconds']:.0f} s | {kp['sent']:,} / {kp['failed']} / {kp['pending']:,} | "
        f"{k['mails']:,} | {verdict(once_each)} |",
    ] + ([
        "",
        f"{k['mails'] - kp['sent']:,} mails more than people: notices SES accepted from a process killed",
        "before it recorded them whose Send event was not recorded before their lease ran out (the",
        "events queue fell behind), so a second notice went. SES takes no idempotency key.",
    ] if k["mails"] > kp["sent"] else []) + (sizing_section(f) if "notifier_cpu_us_per_notice" in f else [])


# The sizing model's assumptions about AWS (not measurable here): one DynamoDB call's latency in
# the region, one SES SendEmail's, the notifier's memory (the template's Globals) and the memory at
# which Lambda gives a function one whole vCPU.
DYNAMODB_MS = 5
SES_MS = 50
NOTIFIER_MB = 256
FULL_VCPU_MB = 1769
RECIPIENTS_AT_ONCE = 10  # functions/notifier/src/lib.rs
SES_RATES = [14, 300, 1000]


def sizing_section(f):
    """How many notices a second one notifier instance sustains, and the concurrency each SES rate needs."""
    cpu_us = f["notifier_cpu_us_per_notice"]
    calls = f["calls"]
    per = lambda op: calls.get(op, 0) / f["recipients"]
    latency_ms = 3 * DYNAMODB_MS + SES_MS + cpu_us / 1000 * FULL_VCPU_MB / NOTIFIER_MB
    by_latency = RECIPIENTS_AT_ONCE * 1000 / latency_ms
    by_cpu = 1e6 / cpu_us * NOTIFIER_MB / FULL_VCPU_MB
    instance = min(by_latency, by_cpu)
    lines = [
        "",
        "### Sizing the notifier on AWS, on paper",
        "",
        f"Measured here: the notifier process's CPU per notice, {cpu_us:.0f} µs (its whole run over the {f['recipients']:,}",
        "recipients above), and the calls per recipient the emulator answered during that run (all",
        "processes: the escalations' writes, the notifier's, ses-events'):",
        "",
        "| call | per recipient |",
        "|---|---|",
    ] + [f"| {op} | {n / f['recipients']:.2f} |" for op, n in sorted(calls.items()) if n / f["recipients"] >= 0.01] + [
        "",
        "The notifier's own share is four calls a notice: the claim and the finish (UpdateItem), the",
        "contact read (BatchGetItem) and the send (SES SendEmail), with a queue receive and delete per",
        f"message of 50. It works on {RECIPIENTS_AT_ONCE} recipients of a message at once. Assumed, not measured: a",
        f"DynamoDB call takes {DYNAMODB_MS} ms and a SendEmail {SES_MS} ms in the region, and a {NOTIFIER_MB} MB function",
        f"gets {NOTIFIER_MB}/{FULL_VCPU_MB} of a vCPU (Lambda gives one whole vCPU at {FULL_VCPU_MB} MB), about as fast as this",
        f"machine's core. So one notice takes about {latency_ms:.0f} ms of wall time, and one instance sustains",
        f"about {by_latency:.0f} notices a second by latency ({RECIPIENTS_AT_ONCE} in flight) and {by_cpu:.0f} by CPU: **{instance:.0f} a second**.",
        "",
        "| SES rate (`SendRatePerSecond`) | instances needed | set the notifier's concurrency to | each instance paces at |",
        "|---|---|---|---|",
    ]
    for rate in SES_RATES:
        needed = max(1, math.ceil(rate / instance))
        # SQS's event source needs a MaximumConcurrency of at least 2; a quarter more than needed
        # absorbs a slow SES minute.
        setting = max(2, math.ceil(needed * 1.25))
        lines.append(f"| {rate}/s | {needed} | {setting} | {rate / setting:.0f}/s |")
    lines += [
        "",
        "The concurrency is three values in `infra/template.yaml` that a test holds equal: the notifier's",
        "`ReservedConcurrentExecutions`, its event source's `MaximumConcurrency` and `ZGODA_SEND_CONCURRENCY`",
        "(each instance paces itself to its share of the rate). The template's default follows the first",
        "row: SES's starting rate of 14 a second needs one instance, and SQS's least concurrency is two.",
        "Raise it with the SES rate: more instances than needed only wait on their pacing, which Lambda bills.",
    ]
    return lines


def package_section(missed):
    """Sizes of the arm64 zips `make package` left behind, if it ran."""
    root = os.path.join(TARGET_DIR, "lambda")
    zips = [
        (name, os.path.getsize(os.path.join(root, name, "bootstrap.zip")))
        for name in FUNCTIONS
        if os.path.exists(os.path.join(root, name, "bootstrap.zip"))
    ]
    lines = ["", "## Package size", ""]
    if not zips:
        return lines + ["Run `make package` before `make bench` to include the arm64 zip sizes."]
    lines += ["| function (arm64 zip) | size | target ≤ 5 MB |", "|---|---|---|"]
    for name, size in zips:
        ok = size <= 5 * 1024 * 1024
        if not ok:
            missed.append(f"zip {name}")
        lines.append(f"| {name} | {size / 1024 / 1024:.2f} MB | {verdict(ok)} |")
    return lines


if __name__ == "__main__":
    main()
