#!/usr/bin/env bash
# bench/vaultd/scale.sh - vaultd holding a large vault (issue 24, part 3
# "Scale"): 1,000,000 KV v2 versions (100,000 paths x 10), 300,000 leases and
# 300,000 tokens ("full"), measured beside the same vault at 1/100 of the
# size ("small"), because the goal is a ratio: random reads in the large
# vault keep >= 70% of the small vault's throughput.
#
# Per scale (small, then full; SCALE_ONLY=small|full runs one):
#  1. seed: the vault-core example seed_scale writes a SQLite vault through
#     the library (5 shares / threshold 3, KV v2 at secret/, the leases and
#     tokens) and fixture.json, kv_paths.txt, tokens.txt beside it; timed
#     (built first, so the build is not in the time);
#  2. storage: the SQLite file and its -wal after seeding (and after load);
#  3. exec -> answering, BENCH_REPEATS times with the file in the page cache
#     (warm), then BENCH_REPEATS times each after `sync; echo 3 >
#     /proc/sys/vm/drop_caches` (cold: the binaries and curl are dropped too,
#     as after a reboot): exec of the release vaultd -> HTTP answers -> 3
#     `vault-cli operator unseal` calls -> first 200 of
#     auth/token/lookup-self with the root token.
# Then one vaultd per scale, all running and unsealed at once:
#  4. idle RSS BENCH_IDLE_WAIT s after it first answers; BENCH_REPEATS rounds
#     of wrk (kv_read_random, token_lookup_random: uniformly random keys and
#     tokens of the fixture), the scales interleaved within each round so
#     that a drift of this shared VM's speed hits both sides of the ratio
#     alike; idle RSS BENCH_IDLE_WAIT s after the last run;
#  5. LIST of the fixture's list_folder (SCALE_KV_PATHS/10 keys), 5 times,
#     timed by curl itself (%{time_total}: no process start-up in it), the
#     key count checked against kv_paths.txt;
#  6. revoke-prefix of the fixture's lease_prefix (SCALE_LEASES/3 leases):
#     the call's own time, then until LIST sys/leases/lookup/<prefix> is
#     empty (polled, bounded; ours revokes before answering, so this is a
#     check), and sys/leases/count before and after.
# The load token is not the root token: a token with a read-only policy on
# the mount's data (plus default), so the ACL is evaluated as for a client.
#
# Output (BENCH_OUT, default bench/results/scale-<UTC stamp>/): results.tsv
# (rep server test metric value unit; tests suffixed _small / _full),
# summary.txt (bench/scale_summary.py: medians, full/small ratios, the
# issue's goals), meta.txt, logs/. The fixtures live in a mktemp dir under
# BENCH_TMP and are removed at exit (BENCH_KEEP=1 keeps them): the full one
# is a SQLite vault of 1M versions, 300k leases and 300k tokens, likely
# gigabytes, so BENCH_TMP needs the room.
#
# Knobs: SCALE_ONLY=small|full; full: SCALE_KV_PATHS (100000),
# SCALE_KV_VERSIONS (10, both scales), SCALE_LEASES (300000), SCALE_TOKENS
# (300000); small: SCALE_SMALL_PATHS (1000), SCALE_SMALL_LEASES (3000),
# SCALE_SMALL_TOKENS (3000); BENCH_REPEATS (3), BENCH_DURATION (10),
# BENCH_WARMUP (2), BENCH_CONNECTIONS (16), BENCH_THREADS (2),
# BENCH_IDLE_WAIT (5), BENCH_REVOKE_MAX_S (600), BENCH_DROP_CACHES (1; 0
# skips the cold starts, which need root), BENCH_START_MAX_S (120: the
# bound of every wait for the server to answer), SCALE_SEED_MAX_S (7200),
# BENCH_TMP, BENCH_OUT, BENCH_KEEP, VAULTD_BIN, VAULT_CLI_BIN, BENCH_SHARED.
#
# What both scale benchmarks share (knobs, start-ups, load, LIST,
# revoke-prefix, summary) is bench/lib/scale.sh; what is vaultd's is here:
# the seeding, starting and unsealing, the SQLite sizes, sys/leases/count.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_ROOT=$REPO/bench
SHARED=${BENCH_SHARED:-$(cd "$REPO/.." && pwd)/shared/bench}
VAULTD_BIN=${VAULTD_BIN:-$REPO/target/release/vaultd}
VAULT_CLI_BIN=${VAULT_CLI_BIN:-$REPO/target/release/vault-cli}
[[ -x "$VAULTD_BIN" && -x "$VAULT_CLI_BIN" ]] ||
  { echo "build first: cargo build --release -p vaultd -p vault-cli" >&2; exit 2; }
# shellcheck source=/dev/null
. "$SHARED/lib/measure.sh"
# shellcheck source-path=SCRIPTDIR source=../lib/scale.sh
. "$BENCH_ROOT/lib/scale.sh"

RUN_NAME=scale
SERVER_PROG=vaultd
# shellcheck disable=SC2034 # read by lib/measure.sh's row
SERVER_NAME=${BENCH_SERVER_NAME:-vaultd-sqlite}
SCALE_KV_PATHS=${SCALE_KV_PATHS:-100000}
SCALE_LEASES=${SCALE_LEASES:-300000}
SCALE_TOKENS=${SCALE_TOKENS:-300000}
SCALE_SEED_MAX_S=${SCALE_SEED_MAX_S:-7200}
scale_knobs SCALE_SEED_MAX_S
scale_open

# --------------------------------------------------------------------------
start_server() { # scale: exec the release server on the scale's vault
  "$VAULTD_BIN" --config "$WORK/$1/vaultd.toml" >>"$WORK/$1/vaultd.log" 2>&1 &
  PID_OF[$1]=$!
}

unseal_cli() { # scale: 3 shares, one `vault-cli operator unseal` each, as an operator would
  local k
  # Read from the fixture beforehand (KEYS_OF), so no jq start-up is timed.
  for k in ${KEYS_OF[$1]}; do
    VAULT_ADDR=${ADDR_OF[$1]} "$VAULT_CLI_BIN" operator unseal "$k" >/dev/null
  done
}

warm_storage() { cat "$WORK/$1/vault.db"* >/dev/null; } # scale: the SQLite file and its -wal

warm_programs() {
  "$VAULTD_BIN" --version >/dev/null
  "$VAULT_CLI_BIN" --version >/dev/null
}

sqlite_bytes() { # file -> size in bytes (0 when absent: no -wal after a checkpoint)
  if [[ -f "$1" ]]; then stat -c %s "$1"; else echo 0; fi
}

storage_rows() { # scale label
  local db=$WORK/$1/vault.db main wal
  main=$(sqlite_bytes "$db")
  wal=$(sqlite_bytes "$db-wal")
  REP=0
  row "storage_$1" "sqlite_db_bytes_$2" "$main" bytes
  row "storage_$1" "sqlite_wal_bytes_$2" "$wal" bytes
  row "storage_$1" "bytes_$2" "$((main + wal))" bytes
  log "  $1: SQLite $2: $(awk -v m="$main" -v w="$wal" 'BEGIN{printf "%.1f MiB + -wal %.1f MiB", m / 1048576, w / 1048576}')"
}

# --------------------------------------------------------------------------
seed() { # scale: the fixture, through the library (seed_scale's contract in the header)
  local s=$1 dir=$WORK/$1 t0 ms versions
  mkdir -p "$dir"
  t0=$(now_ns)
  (cd "$REPO" && SCALE_KV_PATHS=${PATHS[$s]} SCALE_KV_VERSIONS=$SCALE_KV_VERSIONS SCALE_LEASES=${LEASES[$s]} \
    SCALE_TOKENS=${TOKENS[$s]} timeout "$SCALE_SEED_MAX_S" \
    cargo run --quiet --release --locked -p vault-core --example seed_scale -- "$dir/vault.db" "$dir") \
    >"$LOGDIR/seed-$s.log" 2>&1 || { echo "seed_scale ($s) failed: $(tail -c 1000 "$LOGDIR/seed-$s.log")" >&2; return 1; }
  ms=$(ms_since "$t0")
  versions=$((PATHS[$s] * SCALE_KV_VERSIONS))
  REP=0
  row "seed_$s" kv_paths "${PATHS[$s]}" count
  row "seed_$s" kv_versions "$versions" count
  row "seed_$s" leases "${LEASES[$s]}" count
  row "seed_$s" tokens "${TOKENS[$s]}" count
  row "seed_$s" seed_ms "$ms" ms
  row "seed_$s" tokens_listed "$(wc -l <"$dir/tokens.txt")" count
  row "seed_$s" kv_paths_listed "$(wc -l <"$dir/kv_paths.txt")" count
  ROOT_OF[$s]=$(fx "$s" .root_token)
  KEYS_OF[$s]=$(fx "$s" '.keys[0:3] | join(" ")')
  log "  $s: seeded ${PATHS[$s]} paths x $SCALE_KV_VERSIONS versions, ${LEASES[$s]} leases, ${TOKENS[$s]} tokens in $ms ms"
  local port
  port=$(free_port)
  ADDR_OF[$s]=http://127.0.0.1:$port
  check_loopback "${ADDR_OF[$s]}"
  # As bench/vaultd/lease-unseal.sh writes it.
  printf 'log_level = "warn"\n[listener]\naddress = "127.0.0.1:%s"\ntls_disable = true\n[storage]\nkind = "sqlite"\npath = "%s"\n' \
    "$port" "$dir/vault.db" >"$dir/vaultd.toml"
}

# The shared timing, plus the server's own count of every lease before and
# after, and its report of the revocation (considered, revoked, ...) as rows.
revoke_prefix() { # scale
  local s=$1 total_before total_after
  API_TOKEN=${ROOT_OF[$s]}
  total_before=$(api "$s" GET /v1/sys/leases/count | jq -r .data.total)
  revoke_prefix_timed "$s"
  total_after=$(api "$s" GET /v1/sys/leases/count | jq -r .data.total)
  REP=0
  row "revoke_prefix_$s" leases_total_before "$total_before" count
  row "revoke_prefix_$s" leases_total_after "$total_after" count
  jq -r '.data // {} | to_entries[] | select(.value | type == "number") | "\(.key)\t\(.value)"' "$WORK/$s/revoke.json" 2>/dev/null |
    while IFS=$'\t' read -r k v; do row "revoke_prefix_$s" "report_$k" "$v" count; done
  log "  $s: revoke-prefix $REVOKE_PREFIX/ ($REVOKE_BEFORE leases): answered after $REVOKE_CALL_MS ms, none listed after $REVOKE_ALL_MS ms (left $REVOKE_LEFT); total $total_before -> $total_after"
}

# --------------------------------------------------------------------------
write_meta "vaultd: $VAULTD_BIN ($("$VAULTD_BIN" --version | head -1)), $(stat -c %s "$VAULTD_BIN") bytes; git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)" \
  "leases ${LEASES[small]}/${LEASES[full]}; tokens ${TOKENS[small]}/${TOKENS[full]}"
log "results -> $OUT; fixtures in $WORK (removed at exit)"

# Built before the timed seeding, so that seed_ms is the seeding alone.
(cd "$REPO" && cargo build --quiet --release --locked -p vault-core --example seed_scale) >"$LOGDIR/seed-build.log" 2>&1 ||
  { echo "building the seed_scale example failed: $(tail -c 1000 "$LOGDIR/seed-build.log")" >&2; exit 1; }

scale_run
