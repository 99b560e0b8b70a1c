# shellcheck shell=bash
# bench/jwt.sh - the jwt_login scenario's setup, sourced by bench/vaultd/run.sh
# and bench/openbao-jwt.sh so that both servers get the same key, role and
# token: an ES256 key made with openssl for the run, its public key given to
# the server as jwt_validation_pubkeys (local keys: no JWKS fetch in the
# measurement), and one signed token that every request of the run presents.
#
# jwt_keys DIR [SUB [ISS]]  makes DIR/jwt.key, DIR/jwt.pub and exports
#                BENCH_JWT (valid 4 h, audience "vault"; the subject and issuer
#                default to the benchmark's; the README's example passes its own)
# jwt_configure  mounts jwt at auth/jwt and writes the config and role "bench"
#                (needs the caller's `api` and $ROOT_TOKEN), then logs in once

jwt_keys() {
  local dir=$1 sub=${2:-repo:bench/app:ref:main} iss=${3:-https://ci.bench} now header claims input sig
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/jwt.key" 2>/dev/null
  openssl ec -in "$dir/jwt.key" -pubout -out "$dir/jwt.pub" 2>/dev/null
  now=$(date +%s)
  b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
  header=$(printf '{"alg":"ES256","typ":"JWT","kid":"bench"}' | b64url)
  claims=$(printf '{"iss":"%s","sub":"%s","aud":"vault","iat":%d,"nbf":%d,"exp":%d}' \
    "$iss" "$sub" "$now" "$now" $((now + 4 * 3600)) | b64url)
  input="$header.$claims"
  # openssl signs ECDSA as DER (SEQUENCE of r and s); a JWS wants r || s,
  # 32 bytes each.
  sig=$(printf '%s' "$input" | openssl dgst -sha256 -sign "$dir/jwt.key" -binary | python3 -c '
import base64, sys
der = sys.stdin.buffer.read()
def integer(b, i):
    assert b[i] == 2
    n = b[i + 1]
    return int.from_bytes(b[i + 2:i + 2 + n], "big"), i + 2 + n
i = 2 if der[1] < 0x80 else 3
r, i = integer(der, i)
s, _ = integer(der, i)
raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
print(base64.urlsafe_b64encode(raw).decode().rstrip("="))')
  BENCH_JWT="$input.$sig"
  export BENCH_JWT
}

jwt_configure() {
  API_TOKEN=$ROOT_TOKEN
  api POST /v1/sys/auth/jwt '{"type":"jwt"}' >/dev/null
  api POST /v1/auth/jwt/config "$(jq -nc --rawfile pem "$1/jwt.pub" \
    '{jwt_validation_pubkeys: [$pem], bound_issuer: "https://ci.bench"}')" >/dev/null
  api POST /v1/auth/jwt/role/bench '{"role_type":"jwt","user_claim":"sub","bound_audiences":["vault"],
    "bound_claims":{"sub":"repo:bench/*"},"bound_claims_type":"glob",
    "token_policies":["bench"],"token_ttl":"1h","token_max_ttl":"4h"}' >/dev/null
  API_TOKEN="" api POST /v1/auth/jwt/login "$(jq -nc --arg j "$BENCH_JWT" '{role:"bench",jwt:$j}')" |
    jq -e '.auth.client_token and (.auth.entity_id | length > 0)' >/dev/null
}
