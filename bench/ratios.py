#!/usr/bin/env python3
"""Prints vaultd's figures next to OpenBao's, with the ratios the performance
issue sets goals on: ops/s (higher is better) and p99 latency (lower is
better) per load test, medians over the repetitions of each run, and RSS.

    python3 bench/ratios.py RESULTS_DIR_VAULTD RESULTS_DIR_OPENBAO

Each directory is the output of bench/vaultd/run.sh or
../shared/bench/openbao/run.sh (results.tsv: rep server test metric value unit).
"""

import csv
import statistics
import sys


def load(directory):
    values = {}
    with open(f"{directory}/results.tsv", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            try:
                value = float(row["value"])
            except ValueError:
                continue
            values.setdefault((row["test"], row["metric"]), []).append(value)
    return {k: statistics.median(v) for k, v in values.items()}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    ours, theirs = load(sys.argv[1]), load(sys.argv[2])
    tests = ["health", "kv_read", "kv_read_nodefault", "kv_write", "kv_write_nodefault",
             "token_lookup_self", "approle_login", "jwt_login", "db_creds", "lease_revoke",
             "revoke_prefix"]
    print(f"{'test':<20}{'vaultd ops/s':>14}{'openbao ops/s':>15}{'ratio':>8}"
          f"{'vaultd p99 ms':>15}{'openbao p99 ms':>16}")
    for test in tests:
        metric = "leases_per_s" if test == "revoke_prefix" else "rps_ok"
        a, b = ours.get((test, metric)), theirs.get((test, metric))
        if a is None or b is None:
            continue
        pa, pb = ours.get((test, "lat_p99_ms")), theirs.get((test, "lat_p99_ms"))
        ratio = f"{a / b:.1f}x" if b else "-"
        p99 = lambda v: f"{v:.2f}" if v is not None else "-"
        print(f"{test:<20}{a:>14.0f}{b:>15.0f}{ratio:>8}{p99(pa):>15}{p99(pb):>16}")
    print()
    for label in ["after_unseal", "after_load"]:
        a, b = ours.get(("server", f"rss_{label}_kb")), theirs.get(("server", f"rss_{label}_kb"))
        if a and b:
            print(f"RSS {label:<13} vaultd {a / 1024:7.1f} MiB  openbao {b / 1024:7.1f} MiB  "
                  f"ratio 1/{b / a:.1f}")


if __name__ == "__main__":
    main()
