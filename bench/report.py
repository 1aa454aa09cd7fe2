"""The printed tables, and the machine the figures were measured on."""

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from bench import wrk
from bench.procs import ROOT

PAGINATION_GOAL = 2.0  # last page / first page
SCALE_GOAL = 1.5  # scale database / seed database
MEMORY_GOAL_MB = 150.0  # RSS of each worker after the load
IMPORT_RATE_GOAL = 20_000  # observations per second, 100,000 into an empty SQLite database
IMPORT_MEMORY_GOAL_MB = 300.0  # peak RSS of that import
PROBE_GOAL_MS = 20.0  # p99 of /healthz while totals are counted afresh at scale


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "arch": platform.machine(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "wrk": wrk.version(),
        "commit": _commit(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    return commit + (" (with uncommitted changes)" if git("status", "--porcelain") else "")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def header(results: dict[str, Any]) -> str:
    m = results["machine"]
    s = results["settings"]
    return "\n".join(
        [
            f"policyfacts benchmark ({results['mode']}), {results['date']}",
            f"machine: {m['arch']}, {m['cpu']}, {m['cores']} cores; Python {m['python']}; "
            f"{m['wrk']}; commit {m['commit']}; load average at start "
            + " ".join(f"{x:.2f}" for x in m["load_average"]),
            f"load: wrk -t{s['threads']} -c{s['connections']} -d{s['duration']:g}s --latency, "
            f"{s['rounds']} round(s) of ceiling, cached, uncached in turn"
            + (f", {s['warmup']:g} s warm-up before each" if s["warmup"] else "")
            + f"; figures are the {s['pick']} round by req/s",
        ]
    )


def backend_section(block: dict[str, Any]) -> str:
    lines = [f"== {block['backend']} =="]
    columns = ("endpoint", "workers", "server", "req/s", "p50 ms", "p99 ms", "ratio", "")
    rows = [columns]
    for row in block["throughput"]:
        flags = []
        if row["non_2xx"]:
            flags.append(f"{row['non_2xx']} non-2xx!")
        if row["socket_errors"]:
            flags.append(f"{row['socket_errors']} socket errors!")
        rows.append(
            (
                row["endpoint"],
                str(row["workers"]),
                row["server"],
                f"{row['req_s']:,.0f}",
                f"{row['p50_ms']:.2f}",
                f"{row['p99_ms']:.2f}",
                f"{row['ratio']:.2f}",
                " ".join(flags),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(columns))]
    right = {3, 4, 5, 6}
    for n, r in enumerate(rows):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths[:-1]))
    lines.append("")
    slow = [r for r in block["throughput"] if r["prime_seconds"] > 2]
    for row in slow:
        lines.append(
            f"  cold: {row['endpoint']} on {row['server']}, {row['workers']} worker(s), took "
            f"{row['prime_seconds']:.1f} s to answer its first requests on every worker"
        )
    urls = sorted({(r["endpoint"], r["url"], r["database"]) for r in block["throughput"]})
    lines.extend(f"  {name}: {url} ({database} database)" for name, url, database in urls)
    lines.append("")

    p = block.get("pagination")
    if p:
        lines.append(
            f"pagination  {p['url']} on {p['observations']:,} observations, median of "
            f"{p['samples']}: first page {_ms(p['first_ms'])}, last page {_ms(p['last_ms'])}; "
            f"last/first {_x(p['ratio'])} (goal <= {PAGINATION_GOAL:g})  {verdict(p['pass'])}"
        )
    for s in block.get("scale", []):
        lines.append(
            f"scale       {s['url']}: seed {_ms(s['seed_ms'])}, scale {_ms(s['scale_ms'])} "
            f"(median of {s['samples']}; total {s['seed_total']:,} and {s['scale_total']:,}); "
            f"{_x(s['ratio'])} (goal <= {SCALE_GOAL:g})  "
            f"{verdict(s['pass'])}"
        )
    probe = block.get("probe")
    if probe:
        lines.append(
            f"probe       {probe['url']} while {probe['cold_counts']:,} lists were counted "
            f"afresh at scale ({probe['samples']:,} probes): p50 {_ms(probe['p50_ms'])}, "
            f"p99 {_ms(probe['p99_ms'])} (goal < {PROBE_GOAL_MS:g} ms)  {verdict(probe['pass'])}"
        )
    for i in block["import"]:
        goal = ""
        if "pass" in i:
            goal = (
                f" (goal >= {i['goal_per_second']:,}/s, < {i['goal_peak_rss_mb']:g} MB)  "
                f"{verdict(i['pass'])}"
            )
        lines.append(
            f"import      {i['what']}: {i['seconds']:.1f} s, "
            f"{i['observations_per_second']:,} observations/s; peak RSS {i['peak_rss_mb']:.0f} MB"
            + goal
        )
    for mem in block["memory"]:
        sizes = ", ".join(f"{mb:.0f}" for mb in mem["worker_rss_mb"])
        lines.append(
            f"memory      {mem['server']}, {mem['workers']} worker(s): RSS {sizes} MB "
            f"(goal < {MEMORY_GOAL_MB:g} MB each)  {verdict(mem['pass'])}"
        )
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "timed out" if value is None else f"{value:.2f} ms"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
