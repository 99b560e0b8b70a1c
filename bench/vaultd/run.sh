#!/usr/bin/env bash
# bench/vaultd/run.sh - vaultd under the same load as OpenBao's baseline
# (../shared/bench/openbao/run.sh, which this script follows step by step, so
# both servers are driven by the same wrk scripts and measured the same way).
#
# For each repetition: a fresh vaultd (release build; durable storage: SQLite
# in a temp dir, or PostgreSQL with BENCH_STORAGE=postgresql; TCP listener on
# 127.0.0.1 without TLS; no audit device unless BENCH_AUDIT=1), `operator init` 5/3 over the HTTP
# API and unseal with 3 keys through vault-cli, then fixed-duration,
# fixed-concurrency wrk runs against Vault's HTTP API:
#   health, kv_read, kv_read_nodefault, kv_write, kv_write_nodefault,
#   token_lookup_self, approle_login, jwt_login (bench/jwt.sh),
#   ldap_login (a slapd from scripts/slapd-start; its own bind rate, measured
#   the same way by target/release/ldap_bind_rate, as ldap_bind_ceiling),
#   db (dynamic PostgreSQL creds: PostgreSQL's own rate for the role's
#   creation statement first, as db_ceiling; then issue, revoke, revoke-prefix;
#   PostgreSQL's CPU and its pg_stat_statements per role for both, so the
#   ceiling and db_creds compare on PostgreSQL's side too)
# (no transit engine yet), then a restart (stop by PID, start, unseal via the
# API, read back).
#
# Output (default bench/results/vaultd-<storage>-<UTC stamp>/): results.tsv,
# summary.md (../shared/bench/openbao/summarize.py), meta.txt, logs/.
#
# Knobs: as OpenBao's run.sh (BENCH_REPEATS, BENCH_DURATION, BENCH_WARMUP,
# BENCH_CONNECTIONS, BENCH_THREADS, BENCH_REVOKE_MAX_S, BENCH_TESTS,
# BENCH_TMP, BENCH_OUT, BENCH_KEEP, PG_BIN), plus BENCH_STORAGE=sqlite
# (default) | postgresql, BENCH_DB_PASSWORD_AUTH=password (default) |
# scram-sha-256 (the database config's password_authentication),
# BENCH_AUDIT=1 (a file audit device, as OpenBao's run.sh),
# BENCH_DB_SCRAM_ITERATIONS (its scram_iterations, with scram-sha-256;
# default 4096), BENCH_DB_CONNECTIONS (its max_open_connections, and
# pgbench's clients for db_ceiling; default 4, Vault's), BENCH_PG_CPUS
# (PostgreSQL pinned to these CPUs with taskset, as a database on a host
# of its own; run the script itself under `taskset -c <the others>`; default
# unpinned), VAULTD_BIN and VAULT_CLI_BIN (default: the
# workspace's target/release binaries), BENCH_SHARED (default ../shared/bench
# next to the repository).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_ROOT=$REPO/bench
SHARED=${BENCH_SHARED:-$(cd "$REPO/.." && pwd)/shared/bench}
WRK_DIR=$SHARED/wrk # used by lib/measure.sh
VAULTD_BIN=${VAULTD_BIN:-$REPO/target/release/vaultd}
VAULT_CLI_BIN=${VAULT_CLI_BIN:-$REPO/target/release/vault-cli}
[[ -x "$VAULTD_BIN" && -x "$VAULT_CLI_BIN" ]] ||
  { echo "build first: cargo build --release -p vaultd -p vault-cli" >&2; exit 2; }
if [[ -z "${PG_BIN:-}" ]]; then
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
fi
[[ -x "$PG_BIN/initdb" ]] || { echo "PostgreSQL server binaries not found (set PG_BIN)" >&2; exit 2; }
# shellcheck source=/dev/null
. "$SHARED/lib/measure.sh"
# shellcheck source=../jwt.sh
. "$BENCH_ROOT/jwt.sh"
export BENCH_SHARED_WRK=$SHARED/wrk

export BENCH_DURATION=${BENCH_DURATION:-10}
export BENCH_WARMUP=${BENCH_WARMUP:-2}
export BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-16}
export BENCH_THREADS=${BENCH_THREADS:-1}
BENCH_REPEATS=${BENCH_REPEATS:-1}
BENCH_REVOKE_MAX_S=${BENCH_REVOKE_MAX_S:-60}
BENCH_STORAGE=${BENCH_STORAGE:-sqlite}
# "password" (Vault's default, as OpenBao's run uses) or "scram-sha-256"
# (the vault sends PostgreSQL a SCRAM verifier instead of the password).
BENCH_DB_PASSWORD_AUTH=${BENCH_DB_PASSWORD_AUTH:-password}
BENCH_DB_SCRAM_ITERATIONS=${BENCH_DB_SCRAM_ITERATIONS:-4096}
BENCH_DB_CONNECTIONS=${BENCH_DB_CONNECTIONS:-4}
BENCH_PG_CPUS=${BENCH_PG_CPUS:-}
# The bench role's creation statement: configured on vaultd's role, and sent
# by pgbench as the ceiling (db_ceiling), with its placeholders filled.
DB_CREATION_STATEMENT='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '\''{{password}}'\'' VALID UNTIL '\''{{expiration}}'\'' IN ROLE bench_readers;'
BENCH_TESTS=${BENCH_TESTS:-health kv_read kv_read_nodefault kv_write kv_write_nodefault token_lookup_self approle_login jwt_login db}
BENCH_TMP=${BENCH_TMP:-/tmp}
export BENCH_VALUE_BYTES=${BENCH_VALUE_BYTES:-256}
export BENCH_PAYLOAD_BYTES=${BENCH_PAYLOAD_BYTES:-1024}
SERVER_NAME=${BENCH_SERVER_NAME:-vaultd-$BENCH_STORAGE}
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=${BENCH_OUT:-$BENCH_ROOT/results/vaultd-$BENCH_STORAGE-$STAMP}
LOGDIR=$OUT/logs

for v in BENCH_DURATION BENCH_WARMUP BENCH_CONNECTIONS BENCH_THREADS BENCH_REPEATS BENCH_REVOKE_MAX_S \
  BENCH_DB_SCRAM_ITERATIONS BENCH_DB_CONNECTIONS; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "$v must be an integer" >&2; exit 2; }
done
((BENCH_DURATION >= 1 && BENCH_DURATION <= 120)) || { echo "BENCH_DURATION must be 1..120 s" >&2; exit 2; }
((BENCH_REPEATS >= 1 && BENCH_REPEATS <= 10)) || { echo "BENCH_REPEATS must be 1..10" >&2; exit 2; }
((BENCH_CONNECTIONS >= 1 && BENCH_CONNECTIONS <= 256)) || { echo "BENCH_CONNECTIONS must be 1..256" >&2; exit 2; }
[[ "$BENCH_STORAGE" =~ ^(sqlite|postgresql)$ ]] || { echo "BENCH_STORAGE must be sqlite or postgresql" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk (or run ../shared/bench/openbao/setup.sh)" >&2; exit 2; }

mkdir -p "$LOGDIR"
[[ -f "$OUT/results.tsv" ]] || printf 'rep\tserver\ttest\tmetric\tvalue\tunit\n' >"$OUT/results.tsv"

# --------------------------------------------------------------------------
WORK="" VAULTD_PID="" PG_PID="" PG_DIR="" LDAP_DIR=""
LDAP_BIND_RATE_BIN=${LDAP_BIND_RATE_BIN:-$REPO/target/release/ldap_bind_rate}
has_test() { [[ " $BENCH_TESTS " == *" $1 "* ]]; }

as_pg() { (cd "$WORK" && if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi); }

stop_vaultd() { # stop the server we started, by PID; sets LAST_MS (time to exit)
  local t0 i
  LAST_MS=0
  [[ -n "$VAULTD_PID" ]] && kill -0 "$VAULTD_PID" 2>/dev/null || return 0
  t0=$(now_ns)
  kill -TERM "$VAULTD_PID"
  for ((i = 0; i < 6000; i++)); do kill -0 "$VAULTD_PID" 2>/dev/null || break; sleep 0.01; done
  if kill -0 "$VAULTD_PID" 2>/dev/null; then kill -KILL "$VAULTD_PID"; fi
  wait "$VAULTD_PID" 2>/dev/null || true
  VAULTD_PID=""
  LAST_MS=$(ms_since "$t0")
}

pg_stop() {
  [[ -n "$PG_DIR" && -f "$PG_DIR/data/postmaster.pid" ]] || return 0
  # pg_ctl signals the postmaster PID recorded in postmaster.pid
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  PG_PID=""
}

cleanup() {
  set +e
  [[ -z "$VAULTD_PID" ]] || stop_vaultd
  pg_stop
  [[ -z "$LDAP_DIR" ]] || "$REPO/scripts/slapd-stop" "$LDAP_DIR"
  LDAP_DIR=""
  if [[ -n "$WORK" && -d "$WORK" ]]; then
    [[ -f "$WORK/vaultd.log" ]] && tail -c 1000000 "$WORK/vaultd.log" >"$LOGDIR/vaultd-rep$REP.log"
    [[ -f "$PG_DIR/pg.log" ]] && tail -c 200000 "$PG_DIR/pg.log" |
      sed -E "s/PASSWORD '[^']*'/PASSWORD 'REDACTED'/g" >"$LOGDIR/pg-rep$REP.log"
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  fi
  WORK=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() { # path want(any|200) max_s -> prints ms waited, fails on timeout
  local path=$1 want=$2 max=$3 t0 code i
  t0=$(now_ns)
  for ((i = 0; i < max * 100; i++)); do
    if [[ -n "$VAULTD_PID" ]] && ! kill -0 "$VAULTD_PID" 2>/dev/null; then
      echo "vaultd (pid $VAULTD_PID) exited; log: $(tail -c 500 "$WORK/vaultd.log")" >&2
      return 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$ADDR$path" || true)
    if [[ "$want" == any && "$code" != 000 ]] || [[ "$code" == "$want" ]]; then
      ms_since "$t0"; return 0
    fi
    sleep 0.01
  done
  echo "timeout waiting for $path ($want), last code $code" >&2
  return 1
}

api() { # METHOD PATH [JSON] -> body; fails on HTTP >= 400. Uses $API_TOKEN.
  local method=$1 path=$2 data=${3:-} out code
  local args=(-sS --max-time 120 -X "$method" -H "X-Vault-Token: ${API_TOKEN:-}" -w $'\n%{http_code}')
  [[ -z "$data" ]] || args+=(-H 'Content-Type: application/json' --data "$data")
  out=$(curl "${args[@]}" "$ADDR$path")
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  if ((code >= 400)); then echo "API $method $path -> $code: $out" >&2; return 1; fi
  printf '%s' "$out"
}

start_vaultd() { # starts the server, sets VAULTD_PID and LAST_MS (ms until HTTP answers)
  local t0
  t0=$(now_ns)
  "$VAULTD_BIN" --config "$WORK/vaultd.toml" >>"$WORK/vaultd.log" 2>&1 &
  VAULTD_PID=$!
  SERVER_PID=$VAULTD_PID
  wait_http /v1/sys/health any 60 >/dev/null || exit 1
  LAST_MS=$(ms_since "$t0")
}

write_config() {
  local api_port=$1
  {
    printf 'log_level = "warn"\n[listener]\naddress = "127.0.0.1:%s"\ntls_disable = true\n[storage]\n' "$api_port"
    if [[ "$BENCH_STORAGE" == postgresql ]]; then
      printf 'kind = "postgres"\nconnection_url = "postgres://postgres:%s@127.0.0.1:%s/vaultd?sslmode=disable"\n' "$PG_PASS" "$PG_PORT"
    else
      printf 'kind = "sqlite"\npath = "%s"\n' "$WORK/data/vault.db"
    fi
    # As OpenBao's run.sh: a file device declared in the config, in the
    # run's temp dir; ours makes each entry durable before the answer.
    if [[ ${BENCH_AUDIT:-0} == 1 ]]; then
      printf '[[audit]]\nname = "file"\ntype = "file"\noptions = { file_path = "%s" }\n' "$WORK/audit.log"
    fi
  } >"$WORK/vaultd.toml"
  mkdir -p "$WORK/data"
}

pg_start() {
  PG_DIR=$WORK/pg
  mkdir -p "$PG_DIR"
  PG_PASS=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)
  printf '%s\n' "$PG_PASS" >"$PG_DIR/pwfile"
  [[ $(id -u) != 0 ]] || chown -R postgres: "$PG_DIR"
  as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A scram-sha-256 --pwfile="$PG_DIR/pwfile" \
    -E UTF8 --no-sync >"$PG_DIR/initdb.log" 2>&1
  rm -f "$PG_DIR/pwfile"
  PG_PORT=$(free_port)
  local pin=()
  [[ -z "$BENCH_PG_CPUS" ]] || pin=(taskset -c "$BENCH_PG_CPUS")
  as_pg "${pin[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/pg.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=100 -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.max=20000" start >/dev/null
  PG_PID=$(head -1 "$PG_DIR/data/postmaster.pid")
  PG_URL="postgresql://postgres:$PG_PASS@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
  # Issued users get their privileges through a group role, so revocation is
  # a single idempotent DROP ROLE IF EXISTS.
  psql "$PG_URL" -qAt -c "CREATE TABLE bench_t (id int PRIMARY KEY, v text); INSERT INTO bench_t VALUES (1, 'x');
    CREATE ROLE bench_readers NOLOGIN; GRANT SELECT ON bench_t TO bench_readers;
    CREATE EXTENSION pg_stat_statements;" >/dev/null
  log "  postgres $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (pid $PG_PID, data $PG_DIR/data)"
}

pg_bench_roles() { psql "$PG_URL" -qAt -c "SELECT count(*) FROM pg_roles WHERE rolname LIKE 'v-%'"; }

list_leases() { # -> file with full lease ids
  API_TOKEN=$ROOT_TOKEN api LIST /v1/sys/leases/lookup/database/creds/bench/ 2>/dev/null |
    jq -r '.data.keys[]? | "database/creds/bench/" + .' >"$1" || : >"$1"
}

configure() {
  API_TOKEN=$ROOT_TOKEN
  local foo_value
  foo_value=$(head -c $((BENCH_VALUE_BYTES / 2)) /dev/urandom | od -An -tx1 | tr -d ' \n')
  api POST /v1/sys/mounts/secret '{"type":"kv","options":{"version":"2"}}' >/dev/null
  api POST /v1/secret/data/foo "$(jq -nc --arg v "$foo_value" '{data:{value:$v}}')" >/dev/null
  api PUT /v1/sys/policies/acl/bench "$(jq -nc --arg p '
path "secret/data/*"          { capabilities = ["create", "read", "update"] }
path "database/creds/bench"   { capabilities = ["read"] }
path "sys/leases/revoke"      { capabilities = ["update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
' '{policy:$p}')" >/dev/null
  BENCH_TOKEN=$(api POST /v1/auth/token/create '{"policies":["bench"],"ttl":"4h","display_name":"bench"}' | jq -r .auth.client_token)
  BENCH_TOKEN_NODEFAULT=$(api POST /v1/auth/token/create \
    '{"policies":["bench"],"ttl":"4h","display_name":"bench","no_default_policy":true}' | jq -r .auth.client_token)
  export BENCH_TOKEN

  api POST /v1/sys/auth/approle '{"type":"approle"}' >/dev/null
  api POST /v1/auth/approle/role/bench \
    '{"token_policies":["bench"],"secret_id_num_uses":0,"secret_id_ttl":"0","token_ttl":"1h","token_max_ttl":"4h"}' >/dev/null
  BENCH_ROLE_ID=$(api GET /v1/auth/approle/role/bench/role-id | jq -r .data.role_id)
  BENCH_SECRET_ID=$(api POST /v1/auth/approle/role/bench/secret-id '{}' | jq -r .data.secret_id)
  export BENCH_ROLE_ID BENCH_SECRET_ID

  if has_test jwt_login; then
    jwt_keys "$WORK"
    jwt_configure "$WORK"
  fi

  if has_test ldap_login; then
    ldap_configure
  fi

  if has_test db; then
    api POST /v1/sys/mounts/database '{"type":"database"}' >/dev/null
    api POST /v1/database/config/pg "$(jq -nc --arg port "$PG_PORT" --arg pw "$PG_PASS" --arg auth "$BENCH_DB_PASSWORD_AUTH" \
      --argjson rounds "$BENCH_DB_SCRAM_ITERATIONS" --argjson conns "$BENCH_DB_CONNECTIONS" '{
      plugin_name: "postgresql-database-plugin",
      connection_url: ("postgresql://{{username}}:{{password}}@127.0.0.1:" + $port + "/postgres?sslmode=disable"),
      username: "postgres", password: $pw, allowed_roles: "bench", verify_connection: true,
      max_open_connections: $conns, password_authentication: $auth}
      + (if $auth == "scram-sha-256" then {scram_iterations: $rounds} else {} end)')" >/dev/null
    api POST /v1/database/roles/bench "$(jq -nc --arg create "$DB_CREATION_STATEMENT" '{
      db_name: "pg",
      creation_statements: [$create],
      revocation_statements: ["DROP ROLE IF EXISTS \"{{name}}\";"],
      default_ttl: "1h", max_ttl: "24h"}')" >/dev/null
  fi

  # Sanity: every request type once, as the clients will send it.
  API_TOKEN=$BENCH_TOKEN_NODEFAULT
  [[ "$(api GET /v1/secret/data/foo | jq -r .data.data.value)" == "$foo_value" ]] || { echo "kv read check failed" >&2; return 1; }
  api GET /v1/auth/token/lookup-self | jq -e '.data.policies == ["bench"]' >/dev/null
  API_TOKEN=$BENCH_TOKEN
  [[ "$(api GET /v1/secret/data/foo | jq -r .data.data.value)" == "$foo_value" ]] || { echo "kv read check failed" >&2; return 1; }
  api GET /v1/auth/token/lookup-self | jq -e '.data.policies | index("bench")' >/dev/null
  API_TOKEN="" api POST /v1/auth/approle/login "$(jq -nc --arg r "$BENCH_ROLE_ID" --arg s "$BENCH_SECRET_ID" '{role_id:$r,secret_id:$s}')" |
    jq -e .auth.client_token >/dev/null
  if has_test db; then
    api GET /v1/database/creds/bench | jq -e .data.username >/dev/null
    [[ "$(pg_bench_roles)" == 1 ]] || { echo "db creds check: role not in PostgreSQL" >&2; return 1; }
  fi
  FOO_VALUE=$foo_value
}

# A slapd of the run's own (scripts/slapd-start: users, nested groups) and
# the ldap mount: search bind, StartTLS with the test CA, groups mapped to
# the bench policy; one login checked.
ldap_configure() {
  local env
  [[ -x "$LDAP_BIND_RATE_BIN" ]] ||
    { echo "build first: cargo build --release -p vault-tests --bin ldap_bind_rate" >&2; return 1; }
  env=$("$REPO/scripts/slapd-start")
  LDAP_URL=$(sed -n 's/^VAULT_TEST_LDAP_URL=//p' <<<"$env")
  LDAP_CA=$(sed -n 's/^VAULT_TEST_LDAP_CA=//p' <<<"$env")
  LDAP_DIR=$(sed -n 's/^VAULT_TEST_LDAP_DIR=//p' <<<"$env")
  api POST /v1/sys/auth/ldap '{"type":"ldap"}' >/dev/null
  api POST /v1/auth/ldap/config "$(jq -nc --arg url "$LDAP_URL" --rawfile ca "$LDAP_CA" '{
    url: $url, starttls: true, certificate: $ca,
    binddn: "cn=vault-search,dc=example,dc=test", bindpass: "search-bind-password",
    userdn: "ou=people,dc=example,dc=test", userattr: "uid",
    groupdn: "ou=groups,dc=example,dc=test", groupattr: "cn",
    token_ttl: "1h", token_max_ttl: "4h"}')" >/dev/null
  api POST /v1/auth/ldap/groups/engineering '{"policies":["bench"]}' >/dev/null
  export BENCH_LDAP_USER=alice BENCH_LDAP_PASSWORD="correct horse battery staple"
  API_TOKEN="" api POST /v1/auth/ldap/login/alice "$(jq -nc --arg p "$BENCH_LDAP_PASSWORD" '{password:$p}')" |
    jq -e '.auth.policies | index("bench")' >/dev/null
  API_TOKEN=$ROOT_TOKEN
}

# The directory's own bind rate, as the ceiling of ldap_login: the same
# connections and durations as wrk, plain LDAP (no StartTLS: the cost of
# TLS set-up is the vault's to pay once per kept session).
ldap_ceiling() {
  local json
  json=$("$LDAP_BIND_RATE_BIN" "$LDAP_URL" "uid=alice,ou=people,dc=example,dc=test" \
    "$BENCH_LDAP_PASSWORD" "$BENCH_CONNECTIONS" "$BENCH_DURATION" "$BENCH_WARMUP" | grep '^BENCHJSON ' | cut -d' ' -f2-)
  for k in rps_ok lat_p50_ms lat_p99_ms err_status; do
    row ldap_bind_ceiling "$k" "$(jq -r ".$k" <<<"$json")" "$([[ $k == rps_ok ]] && echo ops/s || echo ms)"
  done
  log "  ldap_bind_ceiling (slapd's own binds): $(jq -r .rps_ok <<<"$json") ops/s  p99 $(jq -r .lat_p99_ms <<<"$json") ms"
}

# Sample PostgreSQL client connections (active/all) every 0.2 s during the
# db measurements, over one psql connection; ends after the run.
during_measure() { # test duration_s stopfile
  [[ -n "${PG_URL:-}" && ($1 == db_creds || $1 == lease_revoke) ]] || return 0
  [[ $1 != db_creds ]] || pg_statements_reset
  local q="SELECT count(*) FILTER (WHERE state = 'active') || ' ' || count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid();"
  for ((k = 0; k < $2 * 5; k++)); do
    [[ -e "$3" ]] && break
    echo "$q"
    sleep 0.2
  done | psql "$PG_URL" -qAt >"$LOGDIR/$1.pgactivity.txt" 2>/dev/null || true
}

# PostgreSQL's side of a db measurement (pg_stat_statements, reset as the
# measured run starts): calls and execution time per kind of statement (its
# first two words: the texts hold the passwords, so none is written out)
# into $LOGDIR/<test>-rep<n>.pg_statements.tsv, and per role created (calls
# of CREATE ROLE) the statements PostgreSQL ran and their time, so that the
# ceiling and db_creds can be compared. pg_stat_statements keeps one entry
# per distinct text (every CREATE ROLE is one); entries it had to drop are
# counted as pg_statements_dropped.
pg_statements_reset() { psql "$PG_URL" -qAt -c "SELECT pg_stat_statements_reset()" >/dev/null 2>&1 || true; }
pg_statements_rows() { # test
  local f=$LOGDIR/$1-rep$REP.pg_statements.tsv
  psql "$PG_URL" -qAt -F $'\t' -c "SELECT kind, sum(calls), round(sum(total_exec_time)::numeric, 1) FROM (
      SELECT upper(coalesce(substring(query FROM '^\s*([A-Za-z]+\s+[A-Za-z]+)'), '?')) AS kind, calls, total_exec_time
      FROM pg_stat_statements WHERE query !~* '(pg_stat_|pg_roles|pg_database_size)') AS s
    GROUP BY kind ORDER BY 3 DESC" >"$f" 2>/dev/null || return 0
  awk -F'\t' '{calls += $2; ms += $3} $1 == "CREATE ROLE" {roles += $2}
    END {if (roles) printf "pg_statements_per_role\t%.2f\npg_exec_ms_per_role\t%.3f\n", calls / roles, ms / roles}' "$f" |
    while IFS=$'\t' read -r k v; do row "$1" "$k" "$v" "$([[ $k == *_ms_* ]] && echo ms || echo count)"; done
  row "$1" pg_statements_dropped "$(psql "$PG_URL" -qAt -c "SELECT dealloc FROM pg_stat_statements_info" 2>/dev/null || echo -1)" count
}

pg_activity_rows() { # test
  local f=$LOGDIR/$1.pgactivity.txt
  [[ -s "$f" ]] || return 0
  awk '$1 ~ /^[0-9]+$/ && NF == 2 {n++; a += $1; if ($1 > am) am = $1; c += $2; if ($2 > cm) cm = $2}
    END {if (n) printf "pg_active_queries_mean\t%.2f\npg_active_queries_max\t%d\npg_client_conns_mean\t%.1f\npg_samples\t%d\n", a/n, am, c/n, n}' "$f" |
    while IFS=$'\t' read -r k v; do row "$1" "$k" "$v" count; done
}

# PostgreSQL's own rate for the role's creation statement, the ceiling of
# db_creds: pgbench sends the statement exactly as the role configures it, a
# fresh name each time and the password in the form vaultd sends it (the
# password itself, or with scram-sha-256 a verifier of the configured
# rounds), over as many connections as vaultd opens (max_open_connections),
# for the same warm-up and duration as wrk. What vaultd adds per credential
# (its marker comment, its records) is not in it. Its roles are dropped
# afterwards. Rows under TEST; the rate and PostgreSQL's CPU are left in
# CEILING_RATE and CEILING_PG_CORES (empty if pgbench gave no rate).
db_ceiling() { # test
  local script=$WORK/ceiling.sql password out rate statement done_n pg_cores
  CEILING_RATE="" CEILING_PG_CORES=""
  password="A1a-$(head -c 64 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 20)"
  if [[ "$BENCH_DB_PASSWORD_AUTH" == scram-sha-256 ]]; then
    password=$(python3 - "$password" "$BENCH_DB_SCRAM_ITERATIONS" <<'PY'
import base64, hashlib, hmac, os, sys
password, rounds = sys.argv[1].encode(), int(sys.argv[2])
salt = os.urandom(16)
salted = hashlib.pbkdf2_hmac("sha256", password, salt, rounds)
client = hmac.new(salted, b"Client Key", "sha256").digest()
server = hmac.new(salted, b"Server Key", "sha256").digest()
b64 = lambda b: base64.b64encode(b).decode()
print(f"SCRAM-SHA-256${rounds}:{b64(salt)}${b64(hashlib.sha256(client).digest())}:{b64(server)}")
PY
)
  fi
  # The role's statement as configured, {{name}} a fresh name per call
  # (pgbench fills :client_id and :r).
  statement=${DB_CREATION_STATEMENT//'{{name}}'/v-ceiling-:client_id-:r}
  statement=${statement//'{{password}}'/$password}
  statement=${statement//'{{expiration}}'/2099-12-31 00:00:00+00}
  printf '%s\n' '\set r random(1, 4611686018427387903)' "$statement" >"$script"
  pgbench -n -M simple -f "$script" -c "$BENCH_DB_CONNECTIONS" -j 1 -T "$BENCH_WARMUP" "$PG_URL" \
    >"$LOGDIR/$1-warmup-rep$REP.txt" 2>&1
  pg_statements_reset
  snapshot CEIL_A
  out=$(pgbench -n -M simple -f "$script" -c "$BENCH_DB_CONNECTIONS" -j 1 -T "$BENCH_DURATION" "$PG_URL" 2>&1)
  snapshot CEIL_B
  printf '%s\n' "$out" >"$LOGDIR/$1-rep$REP.txt"
  rate=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | head -1)
  [[ -n "$rate" ]] || { log "  WARNING: pgbench gave no rate (see $LOGDIR/$1-rep$REP.txt)"; return 0; }
  row "$1" rps_ok "$rate" ops/s
  # PostgreSQL's CPU while pgbench ran, and per role (as db_creds' below).
  pg_cores=$(awk -v t="$((CEIL_B_pg - CEIL_A_pg))" -v ns="$((CEIL_B_ns - CEIL_A_ns))" -v hz="$CLK_TCK" \
    'BEGIN{printf "%.2f", t / hz / (ns / 1e9)}')
  row "$1" pg_cpu_cores "$pg_cores" cores
  done_n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out" | head -1)
  [[ -z "$done_n" || "$done_n" == 0 ]] ||
    row "$1" pg_cpu_ms_per_op "$(awk -v t="$((CEIL_B_pg - CEIL_A_pg))" -v hz="$CLK_TCK" -v n="$done_n" \
      'BEGIN{printf "%.3f", t / hz * 1000 / n}')" ms
  pg_statements_rows "$1"
  CEILING_RATE=$rate CEILING_PG_CORES=$pg_cores
  psql "$PG_URL" -qAt -c "SELECT format('DROP ROLE %I;', rolname) FROM pg_roles WHERE rolname LIKE 'v-ceiling-%'" |
    psql "$PG_URL" -q >/dev/null
  log "  $1 (PostgreSQL's own CREATE ROLE, $BENCH_DB_CONNECTIONS connections): $rate ops/s"
}

# The mean of the values given that are not empty (empty if none is).
mean_of() { printf '%s\n' "$@" | awk 'NF {s += $1; n++} END {if (n) printf "%.3f", s / n}'; }

# db_creds between two ceiling runs, its fraction taken of their mean: this
# VM's speed drifts by 10-30% within minutes (PostgreSQL's CPU per role in
# the ceiling runs varies as much), and one ceiling before the load alone
# carried that drift into the fraction.
db_tests() {
  local lease_file=$WORK/leases.txt n roles orphans t0 ms i left=0 half rate
  local before_rate before_cores pg_cores ceiling ceiling_cores
  db_ceiling db_ceiling
  before_rate=$CEILING_RATE before_cores=$CEILING_PG_CORES
  run_wrk db_creds db_creds.lua "$BENCH_DURATION"
  pg_activity_rows db_creds
  pg_statements_rows db_creds
  rate=$(awk -F'\t' -v r="$REP" '$1==r && $3=="db_creds" && $4=="rps_ok"{v=$5} END{print v}' "$OUT/results.tsv")
  pg_cores=$(awk -F'\t' -v r="$REP" '$1==r && $3=="db_creds" && $4=="pg_cpu_cores"{v=$5} END{print v}' "$OUT/results.tsv")
  if [[ -n "$pg_cores" && -n "$rate" ]]; then
    row db_creds pg_cpu_ms_per_op "$(awk -v c="$pg_cores" -v r="$rate" 'BEGIN{printf "%.3f", c * 1000 / r}')" ms
  fi
  sleep 1 # let requests abandoned by wrk at the end of the run finish
  list_leases "$lease_file"
  n=$(wc -l <"$lease_file")
  roles=$(pg_bench_roles)
  # Both can differ by a few when wrk abandons in-flight requests at the end
  # of the run (seen: roles without a lease, and leases without a role).
  orphans=$((roles > n ? roles - n : 0))
  row db_creds leases_outstanding "$n" count
  row db_creds pg_roles_present "$roles" count
  row db_creds pg_roles_without_lease "$orphans" count
  row db_creds leases_without_pg_role "$((n > roles ? n - roles : 0))" count
  log "  db_creds: $n leases outstanding, $roles roles in PostgreSQL"

  db_ceiling db_ceiling_after
  ceiling=$(mean_of "$before_rate" "$CEILING_RATE")
  ceiling_cores=$(mean_of "$before_cores" "$CEILING_PG_CORES")
  if [[ -n "$ceiling" && -n "$rate" ]]; then
    row db_creds ceiling_mean_ops "$ceiling" ops/s
    row db_creds fraction_of_ceiling "$(awk -v a="$rate" -v b="$ceiling" 'BEGIN{printf "%.3f", a / b}')" ratio
    log "  db_creds: $rate ops/s, $(awk -v a="$rate" -v b="$ceiling" 'BEGIN{printf "%.0f", 100 * a / b}')% of the ceiling (mean of the runs before and after, $ceiling)"
  fi
  # PostgreSQL's share of the CPU under db_creds against the ceiling's: the
  # fraction it would reach if a role cost it as much in both (compare the
  # pg_cpu_ms_per_op rows), free of the machine's drift in speed.
  if [[ -n "$ceiling_cores" && -n "$pg_cores" ]]; then
    row db_creds pg_cpu_share_of_ceiling "$(awk -v a="$pg_cores" -v b="$ceiling_cores" 'BEGIN{printf "%.3f", a / b}')" ratio
  fi

  # Half of the leases: revoked one by one (count-bounded: every id once, the
  # duration is only a cap, wrk is ended as soon as all responses are in).
  half=$((n / 2))
  head -n "$half" "$lease_file" >"$WORK/revoke-ids.txt"
  export BENCH_LEASE_FILE=$WORK/revoke-ids.txt
  row lease_revoke ids_available "$half" count
  BENCH_DONE_FILE=$WORK/revoke.done run_wrk lease_revoke lease_revoke.lua "$BENCH_REVOKE_MAX_S" 0
  pg_activity_rows lease_revoke
  local ex
  ex=$(awk -F'\t' -v r="$REP" '$1==r && $3=="lease_revoke" && $4=="incomplete_threads"{v=$5} END{print v+0}' "$OUT/results.tsv")
  ((ex == 0)) || log "  WARNING: lease_revoke did not get all responses within ${BENCH_REVOKE_MAX_S}s; rate uses wrk's duration"

  # The other half: one revoke-prefix call, then wait until no lease and no
  # PostgreSQL role (other than the orphans counted above) is left.
  list_leases "$lease_file"
  n=$(wc -l <"$lease_file")
  row revoke_prefix leases_outstanding_before "$n" count
  row revoke_prefix pg_roles_before "$(pg_bench_roles)" count
  t0=$(now_ns)
  if ! API_TOKEN=$ROOT_TOKEN api PUT /v1/sys/leases/revoke-prefix/database/creds/bench '{"sync":true}' >/dev/null 2>"$LOGDIR/revoke_prefix.err"; then
    row revoke_prefix call_failed 1 flag
    log "  WARNING: revoke-prefix call failed: $(head -c 300 "$LOGDIR/revoke_prefix.err")"
  fi
  ms=$(ms_since "$t0")
  row revoke_prefix call_ms "$ms" ms
  for ((i = 0; i < 600; i++)); do # bounded: 60 s
    list_leases "$lease_file"
    left=$(wc -l <"$lease_file")
    roles=$(pg_bench_roles)
    ((left == 0 && roles <= orphans)) && break
    sleep 0.1
  done
  local all_ms
  all_ms=$(ms_since "$t0")
  row revoke_prefix all_revoked_ms "$all_ms" ms
  row revoke_prefix leases_left "$left" count
  row revoke_prefix pg_roles_left "$roles" count
  ((n == 0)) || row revoke_prefix leases_per_s "$(awk -v n="$n" -v ms="$all_ms" 'BEGIN{printf "%.1f", n / (ms / 1000)}')" ops/s
  log "  revoke-prefix of $n leases: call returned after ${ms} ms; all gone after ${all_ms} ms (left: $left leases, $roles roles)"
}

run_rep() {
  REP=$1
  WORK=$(mktemp -d "$BENCH_TMP/bench-vaultd.XXXXXX")
  chmod 711 "$WORK" # the postgres user must reach $WORK/pg
  ADDR="http://127.0.0.1:$(free_port)"
  export BENCH_ADDR=$ADDR
  check_loopback "$ADDR"
  if has_test db || [[ "$BENCH_STORAGE" == postgresql ]]; then pg_start; fi
  if [[ "$BENCH_STORAGE" == postgresql ]]; then
    psql "$PG_URL" -qAt -c "CREATE DATABASE vaultd" >/dev/null
  fi
  write_config "${ADDR##*:}"
  sed 's/postgres:[^@]*@/postgres:REDACTED@/' "$WORK/vaultd.toml" >"$LOGDIR/vaultd-rep$REP.toml"
  log "rep $REP: $SERVER_NAME at $ADDR, data $WORK/data"

  cpu_canary before
  local ms t0 t_start
  t_start=$(now_ns)
  start_vaultd
  ms=$LAST_MS
  row server start_to_listen_ms "$ms" ms
  log "  listening after $ms ms (pid $VAULTD_PID)"

  t0=$(now_ns)
  API_TOKEN="" api PUT /v1/sys/init '{"secret_shares":5,"secret_threshold":3}' >"$WORK/init.json"
  ms=$(ms_since "$t0")
  chmod 600 "$WORK/init.json"
  row server init_cli_ms "$ms" ms
  ROOT_TOKEN=$(jq -r .root_token "$WORK/init.json")
  t0=$(now_ns)
  for i in 0 1 2; do
    VAULT_ADDR=$ADDR "$VAULT_CLI_BIN" operator unseal --format json "$(jq -r ".keys_base64[$i]" "$WORK/init.json")" >/dev/null
  done
  local unseal_ms
  unseal_ms=$(ms_since "$t0")
  t0=$(now_ns)
  ms=$(wait_http /v1/sys/health 200 120)
  row server unseal_cli_3keys_ms "$unseal_ms" ms
  row server unseal_to_active_ms "$ms" ms
  row server start_to_active_ms "$(ms_since "$t_start")" ms
  # CLI process start-up alone, to read the CLI timings
  t0=$(now_ns)
  "$VAULT_CLI_BIN" --version >/dev/null
  row server cli_startup_ms "$(ms_since "$t0")" ms
  log "  init $(awk -F'\t' -v r="$REP" '$1==r&&$4=="init_cli_ms"{print $5}' "$OUT/results.tsv") ms, unseal (3 CLI calls) $unseal_ms ms, active $ms ms later"
  rss_rows after_unseal "$VAULTD_PID"

  t0=$(now_ns)
  configure
  row server configure_ms "$(ms_since "$t0")" ms

  local t
  for t in $BENCH_TESTS; do
    case $t in
      health) run_wrk health health.lua "$BENCH_DURATION" ;;
      kv_read) run_wrk kv_read kv_read.lua "$BENCH_DURATION" ;;
      kv_read_nodefault) BENCH_TOKEN=$BENCH_TOKEN_NODEFAULT run_wrk kv_read_nodefault kv_read.lua "$BENCH_DURATION" ;;
      kv_write) run_wrk kv_write kv_write.lua "$BENCH_DURATION" ;;
      kv_write_nodefault) BENCH_TOKEN=$BENCH_TOKEN_NODEFAULT run_wrk kv_write_nodefault kv_write.lua "$BENCH_DURATION" ;;
      token_lookup_self) run_wrk token_lookup_self token_lookup_self.lua "$BENCH_DURATION" ;;
      approle_login) run_wrk approle_login approle_login.lua "$BENCH_DURATION" ;;
      jwt_login) WRK_DIR=$BENCH_ROOT/wrk run_wrk jwt_login jwt_login.lua "$BENCH_DURATION" ;;
      ldap_login)
        ldap_ceiling
        WRK_DIR=$BENCH_ROOT/wrk run_wrk ldap_login ldap_login.lua "$BENCH_DURATION"
        ;;
      db) db_tests ;;
      *) echo "unknown test $t" >&2; exit 2 ;;
    esac
  done
  rss_rows after_load "$VAULTD_PID"
  cpu_canary after_load
  case $BENCH_STORAGE in
    sqlite) row server storage_bytes_after_load "$(du -sb "$WORK/data" | cut -f1)" bytes ;;
    postgresql) row server storage_bytes_after_load "$(psql "$PG_URL" -qAt -c "SELECT pg_database_size('vaultd')")" bytes ;;
  esac

  # Restart: stop by PID, start on the same data, unseal via the HTTP API.
  stop_vaultd
  local stop_ms=$LAST_MS
  row server stop_ms "$stop_ms" ms
  t_start=$(now_ns)
  start_vaultd
  row server restart_start_to_listen_ms "$LAST_MS" ms
  t0=$(now_ns)
  for i in 0 1 2; do
    API_TOKEN="" api PUT /v1/sys/unseal "$(jq -c "{key: .keys_base64[$i]}" "$WORK/init.json")" >/dev/null
  done
  local api_unseal_ms
  api_unseal_ms=$(ms_since "$t0")
  ms=$(wait_http /v1/sys/health 200 120)
  row server restart_unseal_api_3keys_ms "$api_unseal_ms" ms
  row server restart_unseal_to_active_ms "$ms" ms
  row server restart_start_to_active_ms "$(ms_since "$t_start")" ms
  API_TOKEN=$BENCH_TOKEN
  local back
  back=$(api GET /v1/secret/data/foo | jq -r .data.data.value)
  [[ "$back" == "$FOO_VALUE" ]] && row server durable_read_after_restart 1 flag ||
    { row server durable_read_after_restart 0 flag; log "  WARNING: secret not readable after restart"; }
  log "  restart: stop took $stop_ms ms; start->active $(ms_since "$t_start") ms (API unseal $api_unseal_ms ms); durable read ok: $([[ "$back" == "$FOO_VALUE" ]] && echo yes || echo NO)"
  rss_rows after_restart "$VAULTD_PID"
  stop_vaultd
  cleanup
}

# --------------------------------------------------------------------------
{
  echo "date_utc: $STAMP"
  echo "host: $(nproc) CPUs, $(awk -F: '/model name/{print $2; exit}' /proc/cpuinfo | sed 's/^ *//'), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
  echo "virt: $(lscpu 2>/dev/null | awk -F: '/Hypervisor vendor|Virtualization type/{gsub(/^ +/, "", $2); printf "%s ", $2}')"
  echo "vaultd: $VAULTD_BIN ($("$VAULTD_BIN" --version | head -1)), $(stat -c %s "$VAULTD_BIN") bytes; git $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)"
  # The code layout list (vaultd/build.rs) only helps while its names are the
  # binary's: below ~90%, run scripts/symbol-order and rebuild.
  echo "symbol order: $(nm "$VAULTD_BIN" 2>/dev/null | awk '{print $3}' | sort | comm -12 - <(sort "$REPO/vaultd/symbol-order.txt") | wc -l) of $(wc -l <"$REPO/vaultd/symbol-order.txt") listed functions present"
  echo "wrk: $(wrk -v 2>&1 | head -1)"
  echo "postgres: $("$PG_BIN/postgres" --version)"
  echo "data fs: $(df -T "$BENCH_TMP" | awk 'NR==2{print $1, $2}')"
  echo "params: storage=$BENCH_STORAGE repeats=$BENCH_REPEATS duration=${BENCH_DURATION}s warmup=${BENCH_WARMUP}s connections=$BENCH_CONNECTIONS wrk_threads=$BENCH_THREADS revoke_max=${BENCH_REVOKE_MAX_S}s value_bytes=$BENCH_VALUE_BYTES"
  echo "tests: $BENCH_TESTS"
} >>"$OUT/meta.txt"
log "results -> $OUT"
REP=0
row server binary_size_bytes "$(stat -c %s "$VAULTD_BIN")" bytes

for ((r = 1; r <= BENCH_REPEATS; r++)); do
  run_rep "$r"
done
python3 "$SHARED/openbao/summarize.py" "$OUT"
log "done: $OUT/summary.md"
