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
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_ROOT=$REPO/bench
SHARED=${BENCH_SHARED:-$(cd "$REPO/.." && pwd)/shared/bench}
# shellcheck disable=SC2034 # used by lib/measure.sh: the *_random scripts are ours
WRK_DIR=$BENCH_ROOT/wrk
export BENCH_SHARED_WRK=$SHARED/wrk # where they find common.lua
VAULTD_BIN=${VAULTD_BIN:-$REPO/target/release/vaultd}
VAULT_CLI_BIN=${VAULT_CLI_BIN:-$REPO/target/release/vault-cli}
[[ -x "$VAULTD_BIN" && -x "$VAULT_CLI_BIN" ]] ||
  { echo "build first: cargo build --release -p vaultd -p vault-cli" >&2; exit 2; }
# shellcheck source=/dev/null
. "$SHARED/lib/measure.sh"

export BENCH_DURATION=${BENCH_DURATION:-10}
export BENCH_WARMUP=${BENCH_WARMUP:-2}
export BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-16}
export BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_REPEATS=${BENCH_REPEATS:-3}
BENCH_IDLE_WAIT=${BENCH_IDLE_WAIT:-5}
BENCH_REVOKE_MAX_S=${BENCH_REVOKE_MAX_S:-600}
BENCH_DROP_CACHES=${BENCH_DROP_CACHES:-1}
SCALE_SEED_MAX_S=${SCALE_SEED_MAX_S:-7200}
SCALE_ONLY=${SCALE_ONLY:-}
SCALE_KV_VERSIONS=${SCALE_KV_VERSIONS:-10}
SCALE_KV_PATHS=${SCALE_KV_PATHS:-100000}
SCALE_LEASES=${SCALE_LEASES:-300000}
SCALE_TOKENS=${SCALE_TOKENS:-300000}
SCALE_SMALL_PATHS=${SCALE_SMALL_PATHS:-1000}
SCALE_SMALL_LEASES=${SCALE_SMALL_LEASES:-3000}
SCALE_SMALL_TOKENS=${SCALE_SMALL_TOKENS:-3000}
BENCH_TMP=${BENCH_TMP:-/tmp}
# shellcheck disable=SC2034 # read by lib/measure.sh's row
SERVER_NAME=${BENCH_SERVER_NAME:-vaultd-sqlite}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_OUT:-$BENCH_ROOT/results/scale-$STAMP}
LOGDIR=$OUT/logs
REP=0

for v in BENCH_DURATION BENCH_WARMUP BENCH_CONNECTIONS BENCH_THREADS BENCH_REPEATS BENCH_IDLE_WAIT \
  BENCH_REVOKE_MAX_S SCALE_SEED_MAX_S SCALE_KV_VERSIONS SCALE_KV_PATHS SCALE_LEASES SCALE_TOKENS \
  SCALE_SMALL_PATHS SCALE_SMALL_LEASES SCALE_SMALL_TOKENS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "$v must be an integer" >&2; exit 2; }
done
((BENCH_DURATION >= 1 && BENCH_DURATION <= 120)) || { echo "BENCH_DURATION must be 1..120 s" >&2; exit 2; }
((BENCH_REPEATS >= 1 && BENCH_REPEATS <= 10)) || { echo "BENCH_REPEATS must be 1..10" >&2; exit 2; }
((BENCH_CONNECTIONS >= 1 && BENCH_CONNECTIONS <= 256)) || { echo "BENCH_CONNECTIONS must be 1..256" >&2; exit 2; }
((BENCH_REVOKE_MAX_S >= 1 && BENCH_REVOKE_MAX_S <= 3600)) || { echo "BENCH_REVOKE_MAX_S must be 1..3600" >&2; exit 2; }
case $SCALE_ONLY in
  "") SCALES="small full" ;;
  small | full) SCALES=$SCALE_ONLY ;;
  *) echo "SCALE_ONLY must be small or full" >&2; exit 2 ;;
esac
if [[ "$BENCH_DROP_CACHES" == 1 && $(id -u) != 0 ]]; then
  echo "cold starts need root (/proc/sys/vm/drop_caches); run as root or set BENCH_DROP_CACHES=0" >&2
  exit 2
fi
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 2; }

declare -A PATHS=([small]=$SCALE_SMALL_PATHS [full]=$SCALE_KV_PATHS)
declare -A LEASES=([small]=$SCALE_SMALL_LEASES [full]=$SCALE_LEASES)
declare -A TOKENS=([small]=$SCALE_SMALL_TOKENS [full]=$SCALE_TOKENS)
declare -A PID_OF=() ADDR_OF=() LOAD_TOKEN=() ROOT_OF=() KEYS_OF=()

mkdir -p "$LOGDIR"
[[ -f "$OUT/results.tsv" ]] || printf 'rep\tserver\ttest\tmetric\tvalue\tunit\n' >"$OUT/results.tsv"
WORK=$(mktemp -d "$BENCH_TMP/bench-scale.XXXXXX")

# --------------------------------------------------------------------------
stop_vaultd() { # scale: stop the server we started for it, by PID
  local pid=${PID_OF[$1]:-} i
  [[ -n "$pid" ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for ((i = 0; i < 6000; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.01; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  fi
  wait "$pid" 2>/dev/null || true
  PID_OF[$1]=""
}

cleanup() {
  set +e
  local s
  for s in "${!PID_OF[@]}"; do stop_vaultd "$s"; done
  for s in small full; do
    [[ -f "$WORK/$s/vaultd.log" ]] && tail -c 1000000 "$WORK/$s/vaultd.log" >"$LOGDIR/vaultd-$s.log"
  done
  if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fx() { jq -r "$2" "$WORK/$1/fixture.json"; } # scale jq-filter: a fixture field

http_code() { # curl args... -> HTTP status (000 when nothing answered)
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" || true
}

# Poll (bounded: BENCH_START_MAX_S, default 120 s) until PATH answers WANT
# (any|200); fails at once if the scale's server died.
wait_code() { # scale path want [token]
  local s=$1 path=$2 want=$3 token=${4:-} code=000 i max=${BENCH_START_MAX_S:-120}
  for ((i = 0; i < max * 200; i++)); do
    if ! kill -0 "${PID_OF[$s]}" 2>/dev/null; then
      echo "vaultd ($s) exited; log: $(tail -c 500 "$WORK/$s/vaultd.log")" >&2
      return 1
    fi
    code=$(http_code -H "X-Vault-Token: $token" "${ADDR_OF[$s]}$path")
    if [[ "$want" == any && "$code" != 000 ]] || [[ "$code" == "$want" ]]; then return 0; fi
    sleep 0.005
  done
  echo "timeout waiting for $path ($want) on the $s vault, last code $code" >&2
  return 1
}

api() { # scale METHOD PATH [JSON] -> body; fails on HTTP >= 400. Uses $API_TOKEN.
  local s=$1 method=$2 path=$3 data=${4:-} out code
  local args=(-sS --max-time 120 -X "$method" -H "X-Vault-Token: ${API_TOKEN:-}" -w $'\n%{http_code}')
  [[ -z "$data" ]] || args+=(-H 'Content-Type: application/json' --data "$data")
  out=$(curl "${args[@]}" "${ADDR_OF[$s]}$path")
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if ((code >= 400)); then echo "API $method $path -> $code: $out" >&2; return 1; fi
  printf '%s' "$out"
}

start_vaultd() { # scale: exec the release server on the scale's vault
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

rss_kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; } # pid VmRSS|VmHWM

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

# One exec -> answering: rows under startup_<scale>, metrics suffixed _warm
# or _cold. The server is stopped again (by PID) afterwards.
startup_once() { # scale warm|cold
  local s=$1 mode=$2 t_exec t_listen t_unsealed t_answer rss
  if [[ "$mode" == cold ]]; then
    sync
    echo 3 >/proc/sys/vm/drop_caches
  fi
  t_exec=$(now_ns)
  start_vaultd "$s"
  wait_code "$s" /v1/sys/health any
  t_listen=$(now_ns)
  unseal_cli "$s"
  t_unsealed=$(now_ns)
  wait_code "$s" /v1/auth/token/lookup-self 200 "${ROOT_OF[$s]}"
  t_answer=$(now_ns)
  rss=$(rss_kb "${PID_OF[$s]}" VmRSS)
  stop_vaultd "$s"
  row "startup_$s" "exec_to_listen_${mode}_ms" $(((t_listen - t_exec) / 1000000)) ms
  row "startup_$s" "unseal_${mode}_ms" $(((t_unsealed - t_listen) / 1000000)) ms
  row "startup_$s" "unsealed_to_answer_${mode}_ms" $(((t_answer - t_unsealed) / 1000000)) ms
  row "startup_$s" "exec_to_answer_${mode}_ms" $(((t_answer - t_exec) / 1000000)) ms
  row "startup_$s" "rss_at_answer_${mode}_kb" "$rss" KiB
  log "  $s $mode rep $REP: exec->listening $(((t_listen - t_exec) / 1000000)) ms, 3 CLI unseals $(((t_unsealed - t_listen) / 1000000)) ms, unsealed->answer $(((t_answer - t_unsealed) / 1000000)) ms, exec->answer $(((t_answer - t_exec) / 1000000)) ms, RSS $((rss / 1024)) MiB"
}

startups() { # scale
  local s=$1 r
  # Warm: the file (and the binaries) in the page cache, whatever the seed left.
  cat "$WORK/$s/vault.db"* >/dev/null
  "$VAULTD_BIN" --version >/dev/null
  "$VAULT_CLI_BIN" --version >/dev/null
  for ((r = 1; r <= BENCH_REPEATS; r++)); do REP=$r startup_once "$s" warm; done
  if [[ "$BENCH_DROP_CACHES" == 1 ]]; then
    for ((r = 1; r <= BENCH_REPEATS; r++)); do REP=$r startup_once "$s" cold; done
  else
    log "  $s: cold starts skipped (BENCH_DROP_CACHES=0)"
  fi
}

# The long-running server of a scale, for the load: unsealed, a load token
# made, one request of each kind checked as wrk will send it.
serve() { # scale
  local s=$1 path token mount
  mount=$(fx "$s" .kv_mount)
  cat "$WORK/$s/vault.db"* >/dev/null
  start_vaultd "$s"
  wait_code "$s" /v1/sys/health any
  unseal_cli "$s"
  wait_code "$s" /v1/auth/token/lookup-self 200 "${ROOT_OF[$s]}"
  API_TOKEN=${ROOT_OF[$s]}
  api "$s" PUT /v1/sys/policies/acl/scale-read "$(jq -nc --arg p "path \"$mount/data/*\" { capabilities = [\"read\"] }" '{policy:$p}')" >/dev/null
  LOAD_TOKEN[$s]=$(api "$s" POST /v1/auth/token/create '{"policies":["scale-read"],"ttl":"4h","display_name":"scale"}' | jq -r .auth.client_token)
  API_TOKEN=${LOAD_TOKEN[$s]}
  for path in "$(head -1 "$WORK/$s/kv_paths.txt")" "$(tail -1 "$WORK/$s/kv_paths.txt")"; do
    api "$s" GET "/v1/$mount/data/$path" | jq -e '.data.data' >/dev/null ||
      { echo "kv read check ($s, $path) failed" >&2; return 1; }
  done
  for token in "$(head -1 "$WORK/$s/tokens.txt")" "$(tail -1 "$WORK/$s/tokens.txt")"; do
    API_TOKEN=$token api "$s" GET /v1/auth/token/lookup-self | jq -e '.data.id' >/dev/null ||
      { echo "token lookup check ($s) failed" >&2; return 1; }
  done
  log "  $s: serving at ${ADDR_OF[$s]} (pid ${PID_OF[$s]}), checks passed"
}

use_scale() { # scale: point lib/measure.sh and the wrk scripts at it
  # shellcheck disable=SC2034 # both read by lib/measure.sh's run_wrk
  ADDR=${ADDR_OF[$1]} SERVER_PID=${PID_OF[$1]}
  export BENCH_TOKEN=${LOAD_TOKEN[$1]}
  BENCH_KV_MOUNT=$(fx "$1" .kv_mount)
  export BENCH_KV_MOUNT
  export BENCH_KV_PATHS_FILE=$WORK/$1/kv_paths.txt
  export BENCH_TOKENS_FILE=$WORK/$1/tokens.txt
}

idle_rss_rows() { # label: every serving scale's RSS after BENCH_IDLE_WAIT s without requests
  local s
  sleep "$BENCH_IDLE_WAIT"
  REP=0
  for s in $SCALES; do
    row "server_$s" "rss_idle_$1_kb" "$(rss_kb "${PID_OF[$s]}" VmRSS)" KiB
    row "server_$s" "hwm_$1_kb" "$(rss_kb "${PID_OF[$s]}" VmHWM)" KiB
    log "  $s: idle RSS $1: $(($(rss_kb "${PID_OF[$s]}" VmRSS) / 1024)) MiB"
  done
}

list_folder() { # scale
  local s=$1 folder mount expected i out n ok=1
  folder=$(fx "$s" .list_folder)
  mount=$(fx "$s" .kv_mount)
  expected=$(grep -c "^$folder/" "$WORK/$s/kv_paths.txt" || true)
  for ((i = 1; i <= 5; i++)); do
    out=$(curl -sS --max-time 120 -X LIST -H "X-Vault-Token: ${ROOT_OF[$s]}" -o "$WORK/$s/list.json" \
      -w '%{http_code} %{time_total}' "${ADDR_OF[$s]}/v1/$mount/metadata/$folder/")
    n=$(jq '.data.keys | length' "$WORK/$s/list.json" 2>/dev/null || echo 0)
    [[ "${out%% *}" == 200 && "$n" == "$expected" ]] || ok=0
    REP=$i row "list_$s" list_ms "$(awk -v t="${out#* }" 'BEGIN{printf "%.1f", t * 1000}')" ms
  done
  REP=0
  row "list_$s" keys_listed "$n" count
  row "list_$s" keys_expected "$expected" count
  row "list_$s" keys_ok "$ok" flag
  ((ok == 1)) || log "  WARNING: LIST $mount/metadata/$folder/ gave $n keys (HTTP ${out%% *}), expected $expected"
  log "  $s: LIST of $folder/ ($n keys): $(awk -F'\t' -v t="list_$s" '$3==t && $4=="list_ms"{printf "%s ", $5}' "$OUT/results.tsv")ms"
}

lease_keys() { # scale prefix -> number of leases LIST shows under it (0 once it is gone: 404)
  local out code
  out=$(curl -sS --max-time 120 -X LIST -H "X-Vault-Token: ${ROOT_OF[$1]}" -w $'\n%{http_code}' \
    "${ADDR_OF[$1]}/v1/sys/leases/lookup/$2/")
  code=${out##*$'\n'}
  if [[ "$code" == 404 ]]; then echo 0; return; fi
  [[ "$code" == 200 ]] || { echo "LIST sys/leases/lookup/$2/ -> $code" >&2; return 1; }
  jq '.data.keys | length' <<<"${out%$'\n'*}"
}

revoke_prefix() { # scale
  local s=$1 prefix expected before total_before total_after t0 out call_ms all_ms left=-1 i
  # Trailing "/" dropped: the same request as bench/vaultd/run.sh's (and
  # OpenBao refuses writes to a path ending in "/"); both take it as a folder.
  prefix=$(fx "$s" .lease_prefix)
  prefix=${prefix%/}
  expected=$(fx "$s" .lease_prefix_count)
  API_TOKEN=${ROOT_OF[$s]}
  before=$(lease_keys "$s" "$prefix")
  total_before=$(api "$s" GET /v1/sys/leases/count | jq -r .data.total)
  t0=$(now_ns)
  out=$(curl -sS --max-time "$BENCH_REVOKE_MAX_S" -X PUT -H "X-Vault-Token: $API_TOKEN" \
    -H 'Content-Type: application/json' --data '{"sync":true}' -o "$WORK/$s/revoke.json" \
    -w '%{http_code} %{time_total}' "${ADDR_OF[$s]}/v1/sys/leases/revoke-prefix/$prefix" || echo "000 0")
  call_ms=$(awk -v t="${out#* }" 'BEGIN{printf "%.1f", t * 1000}')
  # Bounded poll until LIST shows none (immediately true when the call
  # revoked before answering).
  for ((i = 0; i < BENCH_REVOKE_MAX_S * 10; i++)); do
    left=$(lease_keys "$s" "$prefix") || left=-1
    ((left == 0)) && break
    sleep 0.1
  done
  all_ms=$(ms_since "$t0")
  total_after=$(api "$s" GET /v1/sys/leases/count | jq -r .data.total)
  REP=0
  row "revoke_prefix_$s" leases_expected "$expected" count
  row "revoke_prefix_$s" leases_before "$before" count
  row "revoke_prefix_$s" http_status "${out%% *}" code
  row "revoke_prefix_$s" call_ms "$call_ms" ms
  row "revoke_prefix_$s" all_gone_ms "$all_ms" ms
  row "revoke_prefix_$s" leases_left "$left" count
  row "revoke_prefix_$s" leases_total_before "$total_before" count
  row "revoke_prefix_$s" leases_total_after "$total_after" count
  ((before == 0)) || row "revoke_prefix_$s" leases_per_s "$(awk -v n="$before" -v ms="$all_ms" 'BEGIN{printf "%.1f", n / (ms / 1000)}')" ops/s
  # The server's own report (considered, revoked, retrying, ...), as rows.
  jq -r '.data // {} | to_entries[] | select(.value | type == "number") | "\(.key)\t\(.value)"' "$WORK/$s/revoke.json" 2>/dev/null |
    while IFS=$'\t' read -r k v; do row "revoke_prefix_$s" "report_$k" "$v" count; done
  [[ "${out%% *}" =~ ^2 ]] || log "  WARNING: revoke-prefix answered ${out%% *}: $(head -c 300 "$WORK/$s/revoke.json")"
  ((before == expected)) || log "  WARNING: $before leases under $prefix/ before, the fixture says $expected"
  log "  $s: revoke-prefix $prefix/ ($before leases): answered after $call_ms ms, none listed after $all_ms ms (left $left); total $total_before -> $total_after"
}

# --------------------------------------------------------------------------
{
  echo "date_utc: $STAMP"
  echo "host: $(nproc) CPUs, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ *//'), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
  echo "vaultd: $VAULTD_BIN ($("$VAULTD_BIN" --version | head -1)), $(stat -c %s "$VAULTD_BIN") bytes; git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)"
  echo "wrk: $(wrk -v 2>&1 | head -1)"
  echo "data fs: $(df -T "$BENCH_TMP" | awk 'NR==2{print $1, $2, $5 " free"}')"
  echo "scales: $SCALES; small ${PATHS[small]} paths, full ${PATHS[full]} paths, x $SCALE_KV_VERSIONS versions; leases ${LEASES[small]}/${LEASES[full]}; tokens ${TOKENS[small]}/${TOKENS[full]}"
  echo "params: repeats=$BENCH_REPEATS duration=${BENCH_DURATION}s warmup=${BENCH_WARMUP}s connections=$BENCH_CONNECTIONS wrk_threads=$BENCH_THREADS idle_wait=${BENCH_IDLE_WAIT}s drop_caches=$BENCH_DROP_CACHES"
} >>"$OUT/meta.txt"
log "results -> $OUT; fixtures in $WORK (removed at exit)"

# Built before the timed seeding, so that seed_ms is the seeding alone.
(cd "$REPO" && cargo build --quiet --release --locked -p vault-core --example seed_scale) >"$LOGDIR/seed-build.log" 2>&1 ||
  { echo "building the seed_scale example failed: $(tail -c 1000 "$LOGDIR/seed-build.log")" >&2; exit 1; }

for s in $SCALES; do
  log "scale $s"
  seed "$s"
  storage_rows "$s" after_seed
  startups "$s"
done

log "load: one server per scale"
for s in $SCALES; do serve "$s"; done
idle_rss_rows before_load
for ((r = 1; r <= BENCH_REPEATS; r++)); do
  REP=$r
  LOGDIR=$OUT/logs/round$r # run_wrk's logs are named by test: one folder per round
  mkdir -p "$LOGDIR"
  for s in $SCALES; do
    use_scale "$s"
    REP=$r cpu_canary "before_$s"
    run_wrk "kv_read_random_$s" kv_read_random.lua "$BENCH_DURATION" || log "  WARNING: kv_read_random_$s failed"
    run_wrk "token_lookup_random_$s" token_lookup_random.lua "$BENCH_DURATION" || log "  WARNING: token_lookup_random_$s failed"
  done
done
LOGDIR=$OUT/logs
idle_rss_rows after_load
for s in $SCALES; do
  list_folder "$s"
  revoke_prefix "$s"
  stop_vaultd "$s"
  storage_rows "$s" after_load
done

python3 "$BENCH_ROOT/scale_summary.py" "$OUT" | tee "$OUT/summary.txt"
log "done: $OUT/summary.txt"
