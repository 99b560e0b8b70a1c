#!/usr/bin/python3
"""Vault HTTP API compatibility suite: drives a fresh, uninitialised server with
the real third-party client hvac (Debian's python3-hvac 0.11.2), unmodified.

Run with the system interpreter, which is where Debian installs hvac:

    VAULT_ADDR=http://127.0.0.1:PORT \
    VAULT_TEST_PG_URL=postgres://postgres:PW@127.0.0.1:PORT/postgres \
    /usr/bin/python3 tests/compat/hvac_suite.py

It inits and unseals the server itself, then goes through tokens, policies, KV
v2, AppRole, response wrapping, dynamic PostgreSQL credentials and their leases, and seals it
again. Each step prints `ok <step>`; the first failure prints the step and
why, and exits 1. Where hvac 0.11.2 and a modern Vault disagree, the
assertions follow Vault (checked against OpenBao), so the server is held to
Vault's behaviour rather than to hvac's assumptions.

tests/tests/http_compat.rs runs it against a real vaultd.
"""

import importlib.metadata
import os
import shutil
import subprocess
import sys
import time
import traceback
import urllib.parse
import uuid

import hvac
import hvac.exceptions

# The policy the app's AppRole logs in with: read its own secrets, nothing else.
APP_POLICY_NAME = "app-read"
APP_POLICY = """
path "secret/data/app/*" {
  capabilities = ["read"]
}
"""

CREATION_STATEMENTS = [
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
]


class StepFailed(Exception):
    """An assertion of the suite did not hold."""


def check(condition, what):
    if not condition:
        raise StepFailed(what)


def expect_failure(what, call, *accepted):
    """Runs `call`, which must raise one of the hvac exceptions `accepted`."""
    try:
        result = call()
    except accepted as e:
        return e
    raise StepFailed("{} succeeded, expected {}: {!r}".format(
        what, " or ".join(a.__name__ for a in accepted), result))


def response_code(response):
    """hvac's JSONAdapter gives a dict for a 200 with a JSON body and the
    requests.Response otherwise: the HTTP status either way."""
    return 200 if isinstance(response, dict) else response.status_code


def health(client):
    """GET /v1/sys/health: (status code, JSON body)."""
    response = client.sys.read_health_status(method="GET")
    if isinstance(response, dict):
        return 200, response
    try:
        body = response.json()
    except ValueError:
        raise StepFailed("sys/health {} has no JSON body: {!r}".format(
            response.status_code, response.text))
    return response.status_code, body


def pg_parts(url):
    """`postgres://user:password@host:port/db` -> (user, password, host, port)."""
    parts = urllib.parse.urlsplit(url)
    check(parts.scheme in ("postgres", "postgresql") and parts.hostname and parts.port,
          "VAULT_TEST_PG_URL is not postgres://user:password@host:port/db")
    return (urllib.parse.unquote(parts.username or ""),
            urllib.parse.unquote(parts.password or ""),
            parts.hostname, parts.port)


class Suite:
    def __init__(self, addr, pg_url):
        self.addr = addr
        self.pg_url = pg_url
        # An explicit empty token: hvac would otherwise pick up VAULT_TOKEN or
        # ~/.vault-token, and the first steps must run unauthenticated.
        self.client = hvac.Client(url=addr, token="")
        self.unique = uuid.uuid4().hex[:8]

    # --- seal lifecycle -------------------------------------------------------

    def health_uninitialised(self):
        code, body = health(self.client)
        check(code == 501, "sys/health before init: status {}, expected 501".format(code))
        check(body.get("initialized") is False, "sys/health initialized: {!r}".format(body))
        check(body.get("sealed") is True, "sys/health sealed: {!r}".format(body))

    def not_initialized(self):
        check(self.client.sys.is_initialized() is False, "sys/init says initialized")

    def initialize(self):
        result = self.client.sys.initialize(secret_shares=3, secret_threshold=2)
        check(isinstance(result, dict), "sys/init gave no JSON: {!r}".format(result))
        keys, keys_b64 = result.get("keys"), result.get("keys_base64")
        check(isinstance(keys, list) and len(keys) == 3, "keys: {!r}".format(keys))
        check(isinstance(keys_b64, list) and len(keys_b64) == 3,
              "keys_base64: {!r}".format(keys_b64))
        check(all(isinstance(k, str) and k for k in keys + keys_b64), "empty key shares")
        check(isinstance(result.get("root_token"), str) and result["root_token"],
              "root_token: {!r}".format(result.get("root_token")))
        self.keys = keys
        self.root_token = result["root_token"]
        check(self.client.sys.is_initialized() is True, "sys/init says not initialized")

    def sealed_after_init(self):
        status = self.client.sys.read_seal_status()
        check(status.get("sealed") is True, "seal-status after init: {!r}".format(status))
        check(status.get("t") == 2 and status.get("n") == 3,
              "seal-status t/n: {!r}".format(status))
        check(status.get("progress") == 0, "seal-status progress: {!r}".format(status))
        check(self.client.sys.is_sealed() is True, "is_sealed after init")

    def unseal(self):
        first = self.client.sys.submit_unseal_key(key=self.keys[0])
        check(first.get("sealed") is True and first.get("progress") == 1,
              "after one of two shares: {!r}".format(first))
        # submit_unseal_keys stops as soon as a response says unsealed.
        last = self.client.sys.submit_unseal_keys(self.keys[1:])
        check(last.get("sealed") is False, "after two of two shares: {!r}".format(last))
        check(self.client.sys.is_sealed() is False, "is_sealed after unseal")

    def health_active(self):
        # Right after the last share a Vault node may answer 429 (standby) for a
        # moment while it takes the active role (OpenBao on raft does): wait it out.
        deadline = time.monotonic() + 15
        code, body = health(self.client)
        while code == 429 and time.monotonic() < deadline:
            time.sleep(0.2)
            code, body = health(self.client)
        check(code == 200, "sys/health unsealed: status {}, expected 200".format(code))
        check(body.get("initialized") is True and body.get("sealed") is False
              and body.get("standby") is False, "sys/health unsealed: {!r}".format(body))

    # --- tokens ---------------------------------------------------------------

    def token_lookup_self(self):
        self.client.token = self.root_token
        check(self.client.is_authenticated(), "is_authenticated with the root token")
        for how, result in (("lookup_token()", self.client.lookup_token()),
                            ("auth.token.lookup_self()", self.client.auth.token.lookup_self())):
            data = result.get("data") or {}
            check(data.get("id") == self.root_token, "{} id: {!r}".format(how, data))
            check("root" in (data.get("policies") or []), "{} policies: {!r}".format(how, data))

    def token_create_lookup_revoke(self):
        created = self.client.auth.token.create(policies=[APP_POLICY_NAME], ttl="1h")
        auth = created.get("auth") or {}
        child = auth.get("client_token")
        check(isinstance(child, str) and child, "token create: {!r}".format(created))
        check(APP_POLICY_NAME in (auth.get("policies") or []),
              "token create policies: {!r}".format(auth))
        check(auth.get("lease_duration") == 3600, "token create lease_duration: {!r}".format(auth))
        check(auth.get("renewable") is True, "token create renewable: {!r}".format(auth))

        data = self.client.auth.token.lookup(child).get("data") or {}
        check(data.get("id") == child, "lookup id: {!r}".format(data))
        check(APP_POLICY_NAME in (data.get("policies") or []), "lookup policies: {!r}".format(data))
        check(isinstance(data.get("ttl"), int) and 0 < data["ttl"] <= 3600,
              "lookup ttl: {!r}".format(data))

        self.client.auth.token.revoke(child)
        expect_failure("lookup of the revoked token",
                       lambda: self.client.auth.token.lookup(child),
                       hvac.exceptions.Forbidden, hvac.exceptions.InvalidRequest)
        # The revoked token cannot authenticate either.
        check(not hvac.Client(url=self.addr, token=child).is_authenticated(),
              "the revoked token still authenticates")

    # --- policies -------------------------------------------------------------

    def policy(self):
        self.client.sys.create_or_update_policy(name=APP_POLICY_NAME, policy=APP_POLICY)
        read = self.client.sys.read_policy(name=APP_POLICY_NAME)
        # Vault answers with the fields both at the top level and under "data".
        data = read.get("data") or {}
        check(data.get("name") == APP_POLICY_NAME, "read_policy name: {!r}".format(read))
        check("secret/data/app/*" in (data.get("rules") or ""),
              "read_policy rules: {!r}".format(read))
        listed = self.client.sys.list_policies()
        names = (listed.get("data") or {}).get("policies") or []
        check(APP_POLICY_NAME in names and "root" in names and "default" in names,
              "list_policies: {!r}".format(listed))

    # --- KV version 2 ---------------------------------------------------------

    def kv2(self):
        self.client.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
        kv = self.client.secrets.kv.v2
        for n, secret in ((1, {"user": "app", "password": "one"}),
                          (2, {"user": "app", "password": "two"})):
            written = kv.create_or_update_secret(path="app/db", secret=secret, mount_point="secret")
            check((written.get("data") or {}).get("version") == n,
                  "write {}: {!r}".format(n, written))

        latest = (kv.read_secret_version(path="app/db", mount_point="secret").get("data") or {})
        check(latest.get("data") == {"user": "app", "password": "two"},
              "read latest: {!r}".format(latest))
        check((latest.get("metadata") or {}).get("version") == 2,
              "read latest metadata: {!r}".format(latest))

        first = (kv.read_secret_version(path="app/db", version=1, mount_point="secret")
                 .get("data") or {})
        check(first.get("data") == {"user": "app", "password": "one"},
              "read version=1: {!r}".format(first))
        check((first.get("metadata") or {}).get("version") == 1,
              "read version=1 metadata: {!r}".format(first))

        meta = kv.read_secret_metadata(path="app/db", mount_point="secret").get("data") or {}
        check(meta.get("current_version") == 2, "metadata current_version: {!r}".format(meta))
        check(sorted((meta.get("versions") or {}).keys()) == ["1", "2"],
              "metadata versions: {!r}".format(meta))

        listed = kv.list_secrets(path="app", mount_point="secret")
        check((listed.get("data") or {}).get("keys") == ["db"], "list app: {!r}".format(listed))

    # --- AppRole --------------------------------------------------------------

    def approle(self):
        self.client.sys.enable_auth_method("approle")
        role = "app-" + self.unique
        approle = self.client.auth.approle
        approle.create_or_update_approle(role, token_policies=[APP_POLICY_NAME])
        role_id = (approle.read_role_id(role).get("data") or {}).get("role_id")
        check(isinstance(role_id, str) and role_id, "read_role_id: {!r}".format(role_id))
        generated = approle.generate_secret_id(role).get("data") or {}
        secret_id = generated.get("secret_id")
        check(isinstance(secret_id, str) and secret_id, "generate_secret_id: {!r}".format(generated))

        app = hvac.Client(url=self.addr, token="")
        login = app.auth.approle.login(role_id=role_id, secret_id=secret_id)
        auth = login.get("auth") or {}
        check(APP_POLICY_NAME in (auth.get("policies") or []),
              "approle login policies: {!r}".format(auth))
        check(app.token == auth.get("client_token") and app.token,
              "hvac did not take the login's client_token")

        read = app.secrets.kv.v2.read_secret_version(path="app/db", mount_point="secret")
        check((read.get("data") or {}).get("data", {}).get("password") == "two",
              "the app reading secret/data/app/db: {!r}".format(read))
        expect_failure("the app writing secret/data/other/x",
                       lambda: app.secrets.kv.v2.create_or_update_secret(
                           path="other/x", secret={"k": "v"}, mount_point="secret"),
                       hvac.exceptions.Forbidden)
        expect_failure("the app writing secret/data/app/db",
                       lambda: app.secrets.kv.v2.create_or_update_secret(
                           path="app/db", secret={"k": "v"}, mount_point="secret"),
                       hvac.exceptions.Forbidden)

    # --- response wrapping ----------------------------------------------------

    def wrapping(self):
        role = "app-" + self.unique
        wrapped = self.client.write("auth/approle/role/{}/secret-id".format(role), wrap_ttl="60s")
        info = (wrapped or {}).get("wrap_info") or {}
        check(wrapped.get("data") is None and info.get("token") and info.get("ttl") == 60,
              "a wrapped secret-id: {!r}".format(wrapped))
        check(info.get("creation_path") == "auth/approle/role/{}/secret-id".format(role),
              "wrap_info creation_path: {!r}".format(info))
        # sys.unwrap with the wrapping token as the client's token, as an
        # application that holds nothing else does.
        app = hvac.Client(url=self.addr, token=info["token"])
        inside = app.sys.unwrap()
        data = inside.get("data") or {}
        check(data.get("secret_id") and data.get("secret_id_accessor") == info.get("wrapped_accessor"),
              "sys.unwrap: {!r}".format(inside))
        expect_failure("a second sys.unwrap", lambda: app.sys.unwrap(), hvac.exceptions.InvalidRequest)
        # A wrapped read, unwrapped by a caller with its own token (the
        # wrapping token in the body).
        read = self.client.read("secret/data/app/db", wrap_ttl=300)
        token = ((read or {}).get("wrap_info") or {}).get("token")
        check(token and read.get("data") is None, "a wrapped read: {!r}".format(read))
        inside = self.client.sys.unwrap(token=token)
        check(((inside.get("data") or {}).get("data") or {}).get("password") == "two",
              "sys.unwrap(token=...): {!r}".format(inside))

    # --- database credentials and leases --------------------------------------

    def database(self):
        user, password, host, port = pg_parts(self.pg_url)
        self.client.sys.enable_secrets_engine("database")
        db = self.client.secrets.database
        db.configure(
            name="pg",
            plugin_name="postgresql-database-plugin",
            allowed_roles=["*"],
            connection_url="postgres://{{username}}:{{password}}@%s:%d/postgres" % (host, port),
            username=user,
            password=password,
        )
        role = "hvac" + self.unique
        db.create_role(name=role, db_name="pg", creation_statements=CREATION_STATEMENTS,
                       default_ttl="1h", max_ttl="24h")
        creds = db.generate_credentials(role)
        data = creds.get("data") or {}
        self.db_user, self.db_password = data.get("username"), data.get("password")
        check(isinstance(self.db_user, str) and self.db_user
              and isinstance(self.db_password, str) and self.db_password,
              "creds: {!r}".format(creds))
        self.lease_id = creds.get("lease_id")
        check(isinstance(self.lease_id, str) and self.lease_id.startswith("database/creds/" + role + "/"),
              "creds lease_id: {!r}".format(creds))
        check(creds.get("lease_duration") == 3600 and creds.get("renewable") is True,
              "creds lease: {!r}".format(creds))
        if psql_available():
            check(pg_role_exists(self.pg_url, self.db_user), "role {} not in PostgreSQL".format(self.db_user))
            check(pg_can_login(self.pg_url, self.db_user, self.db_password),
                  "cannot log in as {} with the issued password".format(self.db_user))

    def lease(self):
        looked_up = self.client.sys.read_lease(self.lease_id).get("data") or {}
        check(looked_up.get("id") == self.lease_id, "read_lease id: {!r}".format(looked_up))
        check(looked_up.get("renewable") is True, "read_lease renewable: {!r}".format(looked_up))
        check(isinstance(looked_up.get("ttl"), int) and 0 < looked_up["ttl"] <= 3600,
              "read_lease ttl: {!r}".format(looked_up))
        check(looked_up.get("issue_time") and looked_up.get("expire_time"),
              "read_lease times: {!r}".format(looked_up))

        renewed = self.client.sys.renew_lease(self.lease_id, increment=600)
        check(renewed.get("lease_id") == self.lease_id, "renew_lease: {!r}".format(renewed))
        check(isinstance(renewed.get("lease_duration"), int) and 0 < renewed["lease_duration"] <= 600,
              "renew_lease lease_duration: {!r}".format(renewed))
        ttl = (self.client.sys.read_lease(self.lease_id).get("data") or {}).get("ttl")
        check(isinstance(ttl, int) and 0 < ttl <= 600, "ttl after renew: {!r}".format(ttl))

        revoked = self.client.sys.revoke_lease(self.lease_id)
        check(response_code(revoked) in (200, 204), "revoke_lease: {!r}".format(revoked))
        expect_failure("read_lease of the revoked lease",
                       lambda: self.client.sys.read_lease(self.lease_id),
                       hvac.exceptions.InvalidRequest, hvac.exceptions.InvalidPath)
        if psql_available():
            check(not pg_role_exists(self.pg_url, self.db_user),
                  "role {} still in PostgreSQL after revoke".format(self.db_user))

    # --- seal -----------------------------------------------------------------

    def seal(self):
        sealed = self.client.sys.seal()
        check(response_code(sealed) in (200, 204), "seal: {!r}".format(sealed))
        check(self.client.sys.is_sealed() is True, "is_sealed after seal")
        code, body = health(self.client)
        check(code == 503, "sys/health sealed: status {}, expected 503".format(code))
        check(body.get("initialized") is True and body.get("sealed") is True,
              "sys/health sealed: {!r}".format(body))

    def steps(self):
        return [
            ("health before init is 501", self.health_uninitialised),
            ("sys.is_initialized is false", self.not_initialized),
            ("sys.initialize 3 shares, threshold 2", self.initialize),
            ("sealed after init", self.sealed_after_init),
            ("unseal with two shares", self.unseal),
            ("health when active is 200", self.health_active),
            ("token lookup-self", self.token_lookup_self),
            ("token create, lookup, revoke", self.token_create_lookup_revoke),
            ("policy write, read, list", self.policy),
            ("kv v2 versions, metadata, list", self.kv2),
            ("approle login and its policy", self.approle),
            ("wrapped secret-id and read, sys.unwrap", self.wrapping),
            ("database credentials", self.database),
            ("lease lookup, renew, revoke", self.lease),
            ("seal, health 503", self.seal),
        ]


def psql_available():
    return shutil.which("psql") is not None


def psql(url, sql):
    out = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-tAc", sql],
                         capture_output=True, text=True, timeout=30)
    return out.returncode, out.stdout.strip(), out.stderr.strip()


def pg_role_exists(url, name):
    literal = "'" + name.replace("'", "''") + "'"
    code, out, err = psql(url, "SELECT count(*) FROM pg_roles WHERE rolname = " + literal)
    check(code == 0, "psql: {}".format(err))
    return out == "1"


def pg_can_login(url, user, password):
    _, _, host, port = pg_parts(url)
    login = "postgres://%s:%s@%s:%d/postgres" % (
        urllib.parse.quote(user, safe=""), urllib.parse.quote(password, safe=""), host, port)
    code, out, _ = psql(login, "SELECT current_user")
    return code == 0 and out == user


def main():
    addr = os.environ.get("VAULT_ADDR")
    pg_url = os.environ.get("VAULT_TEST_PG_URL")
    if not addr or not pg_url:
        print("hvac_suite: set VAULT_ADDR (a fresh, uninitialised server) and VAULT_TEST_PG_URL",
              file=sys.stderr)
        return 2
    print("hvac {} against {}".format(importlib.metadata.version("hvac"), addr))
    suite = Suite(addr, pg_url)
    for name, step in suite.steps():
        try:
            step()
        except Exception as e:  # any failure ends the suite, naming its step
            traceback.print_exc()
            # hvac's exceptions name the HTTP method and URL in their text.
            print("FAIL {}: {}: {}".format(name, type(e).__name__, e), file=sys.stderr)
            print("FAIL {}".format(name))
            return 1
        print("ok {}".format(name), flush=True)
    print("hvac suite passed all {} steps".format(len(suite.steps())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
