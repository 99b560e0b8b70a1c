#!/usr/bin/env python3
"""Summary of the scale runs (issue 24, part 3 "Scale"): bench/vaultd/scale.sh
and bench/openbao-scale.sh write the same rows, so one reader serves both,
alone or side by side.

    python3 bench/scale_summary.py RESULTS_DIR [RESULTS_DIR ...]

Reads RESULTS_DIR/results.tsv (rep server test metric value unit; tests
suffixed _small / _full) and prints, per server and scale, the median over
repetitions of each figure; the full/small ratios; the issue's goals checked
on the full scale; and, where the fill rate was recorded (OpenBao: filled
over its HTTP API), the time that rate gives for vaultd's full scale, an
extrapolation that is said to be one.
"""

import csv
import statistics
import sys
from collections import defaultdict

SCALES = ("small", "full")
# vaultd's full scale in the issue: the extrapolation target.
TARGET_VERSIONS, TARGET_TOKENS = 1_000_000, 300_000

# label, test (without the scale suffix), metric, factor, decimals
LINES = [
    ("kv_read_random ops/s", "kv_read_random", "rps_ok", 1, 0),
    ("kv_read_random p50 ms", "kv_read_random", "lat_p50_ms", 1, 2),
    ("kv_read_random p99 ms", "kv_read_random", "lat_p99_ms", 1, 2),
    ("kv_read_random non-2xx", "kv_read_random", "err_status", 1, 0),
    ("token_lookup_random ops/s", "token_lookup_random", "rps_ok", 1, 0),
    ("token_lookup_random p50 ms", "token_lookup_random", "lat_p50_ms", 1, 2),
    ("token_lookup_random p99 ms", "token_lookup_random", "lat_p99_ms", 1, 2),
    ("token_lookup_random non-2xx", "token_lookup_random", "err_status", 1, 0),
    ("server CPU cores (kv_read_random)", "kv_read_random", "server_cpu_cores", 1, 2),
    ("idle RSS before load MiB", "server", "rss_idle_before_load_kb", 1 / 1024, 1),
    ("idle RSS after load MiB", "server", "rss_idle_after_load_kb", 1 / 1024, 1),
    ("peak RSS (HWM) after load MiB", "server", "hwm_after_load_kb", 1 / 1024, 1),
    ("RSS at first answer (warm) MiB", "startup", "rss_at_answer_warm_kb", 1 / 1024, 1),
    ("KV versions", "seed", "kv_versions", 1, 0),
    ("tokens", "seed", "tokens", 1, 0),
    ("leases", "seed", "leases", 1, 0),
    ("seed / fill s", "seed", "seed_ms", 1 / 1000, 1),
    ("fill KV versions/s", "seed", "kv_versions_per_s", 1, 0),
    ("fill tokens/s", "seed", "tokens_per_s", 1, 0),
    ("storage after seed MiB", "storage", "bytes_after_seed", 1 / 1048576, 1),
    ("storage after load MiB", "storage", "bytes_after_load", 1 / 1048576, 1),
    ("exec->listening warm ms", "startup", "exec_to_listen_warm_ms", 1, 0),
    ("3 CLI unseals warm ms", "startup", "unseal_warm_ms", 1, 0),
    ("unsealed->answer warm ms", "startup", "unsealed_to_answer_warm_ms", 1, 0),
    ("exec->answer warm ms", "startup", "exec_to_answer_warm_ms", 1, 0),
    ("exec->listening cold ms", "startup", "exec_to_listen_cold_ms", 1, 0),
    ("3 CLI unseals cold ms", "startup", "unseal_cold_ms", 1, 0),
    ("unsealed->answer cold ms", "startup", "unsealed_to_answer_cold_ms", 1, 0),
    ("exec->answer cold ms", "startup", "exec_to_answer_cold_ms", 1, 0),
    ("LIST folder ms", "list", "list_ms", 1, 1),
    ("LIST folder keys (checked)", "list", "keys_listed", 1, 0),
    ("revoke-prefix leases", "revoke_prefix", "leases_before", 1, 0),
    ("revoke-prefix answer ms", "revoke_prefix", "call_ms", 1, 0),
    ("revoke-prefix all gone ms", "revoke_prefix", "all_gone_ms", 1, 0),
    ("revoke-prefix leases/s", "revoke_prefix", "leases_per_s", 1, 0),
    ("revoke-prefix leases left", "revoke_prefix", "leases_left", 1, 0),
]

# The goals, on the full scale: label, test, metric, factor, test(value) -> bool, text
GOALS = [
    ("kv_read_random p99", "kv_read_random", "lat_p99_ms", 1, lambda v: v < 10, "< 10 ms"),
    ("token_lookup_random p99", "token_lookup_random", "lat_p99_ms", 1, lambda v: v < 10, "< 10 ms"),
    ("idle RSS before load", "server", "rss_idle_before_load_kb", 1 / 1024, lambda v: v < 32, "< 32 MiB"),
    ("idle RSS after load", "server", "rss_idle_after_load_kb", 1 / 1024, lambda v: v < 32, "< 32 MiB"),
    ("exec->answer warm", "startup", "exec_to_answer_warm_ms", 1, lambda v: v < 2000, "< 2000 ms"),
    ("exec->answer cold", "startup", "exec_to_answer_cold_ms", 1, lambda v: v < 10000, "< 10000 ms"),
]
RATIO_GOAL = 0.70


def load(dirs):
    """{(server, scale, test, metric): [values]} over all directories."""
    values = defaultdict(list)
    for d in dirs:
        with open(f"{d}/results.tsv", newline="") as f:
            for r in csv.DictReader(f, delimiter="\t"):
                test, _, scale = r["test"].rpartition("_")
                if scale not in SCALES:
                    continue
                try:
                    values[(r["server"], scale, test, r["metric"])].append(float(r["value"]))
                except ValueError:
                    continue
    return {k: statistics.median(v) for k, v in values.items()}


def fmt(v, decimals):
    if v is None:
        return "-"
    return f"{v:,.{decimals}f}"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    med = load(sys.argv[1:])
    servers = sorted({k[0] for k in med}, key=lambda s: (not s.startswith("vaultd"), s))
    cols = [(srv, sc) for srv in servers for sc in SCALES if any(k[:2] == (srv, sc) for k in med)]
    if not cols:
        sys.exit("no scale rows found")

    def get(srv, sc, test, metric, factor=1):
        v = med.get((srv, sc, test, metric))
        return None if v is None else v * factor

    width = 36
    print("medians over repetitions (scale.sh / openbao-scale.sh)")
    print(f"{'':<{width}}" + "".join(f"{(srv + ' ' + sc)[:22]:>24}" for srv, sc in cols))
    for label, test, metric, factor, dec in LINES:
        cells = [get(srv, sc, test, metric, factor) for srv, sc in cols]
        if all(c is None for c in cells):
            continue
        print(f"{label:<{width}}" + "".join(f"{fmt(c, dec):>24}" for c in cells))

    for srv in servers:
        print(f"\n{srv}: full / small (goal: throughput >= {RATIO_GOAL:.0%} of the small vault's)")
        for test in ("kv_read_random", "token_lookup_random"):
            a, b = get(srv, "small", test, "rps_ok"), get(srv, "full", test, "rps_ok")
            if a and b is not None:
                ratio = b / a
                verdict = "ok" if ratio >= RATIO_GOAL else "MISSED"
                p99a, p99b = get(srv, "small", test, "lat_p99_ms"), get(srv, "full", test, "lat_p99_ms")
                print(f"  {test:<22} {fmt(b, 0):>9} / {fmt(a, 0):>9} ops/s = {ratio:6.1%}  {verdict:<7}"
                      f"  p99 {fmt(p99b, 2)} ms (small {fmt(p99a, 2)} ms)")
            else:
                print(f"  {test:<22} needs both scales in the run")
        full_rows = [(label, get(srv, "full", test, metric, factor), ok, text)
                     for label, test, metric, factor, ok, text in GOALS]
        if any(v is not None for _, v, _, _ in full_rows):
            print(f"{srv}: the issue's goals on the full scale")
            for label, v, ok, text in full_rows:
                verdict = "-" if v is None else ("ok" if ok(v) else "MISSED")
                print(f"  {label:<26} {fmt(v, 1):>12}  goal {text:<11} {verdict}")
        kv_rate, tok_rate = get(srv, "full", "seed", "kv_versions_per_s"), get(srv, "full", "seed", "tokens_per_s")
        if kv_rate is None:
            kv_rate, tok_rate = get(srv, "small", "seed", "kv_versions_per_s"), get(srv, "small", "seed", "tokens_per_s")
        if kv_rate and tok_rate:
            versions = get(srv, "full", "seed", "kv_versions") or get(srv, "small", "seed", "kv_versions")
            tokens = get(srv, "full", "seed", "tokens") or get(srv, "small", "seed", "tokens")
            est = TARGET_VERSIONS / kv_rate + TARGET_TOKENS / tok_rate
            print(f"{srv}: measured at {fmt(versions, 0)} KV versions and {fmt(tokens, 0)} tokens, filled through"
                  f" the HTTP API at {fmt(kv_rate, 0)} versions/s and {fmt(tok_rate, 0)} tokens/s.\n"
                  f"  EXTRAPOLATION, not measured: at those rates, vaultd's full scale ({TARGET_VERSIONS:,} versions,"
                  f" {TARGET_TOKENS:,} tokens) would take ~{est / 60:,.0f} min to fill; its read, list and revoke"
                  f" figures above are at the scale measured, not at 1M.")
            small_rate = get(srv, "small", "seed", "kv_versions_per_s")
            if small_rate and get(srv, "full", "seed", "kv_versions_per_s"):
                print(f"  fill rate small -> full: {fmt(small_rate, 0)} -> {fmt(kv_rate, 0)} versions/s"
                      f" (a falling rate makes the extrapolation optimistic)")


if __name__ == "__main__":
    main()
