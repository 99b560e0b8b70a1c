# Applications read their own secrets.
path "secret/data/app/*" {
  capabilities = ["create", "read", "update", "patch"]
  required_parameters = ["owner"]
  allowed_parameters = {
    "owner" = []
    "env"   = ["prod-*", "staging"]
  }
  denied_parameters = { "debug" = [true, 1] }
}

// Every team's metadata, listing only.
path "secret/metadata/+/teams/*" { capabilities = ["list"] }

/* No one touches the root token path. */
path "auth/token/root" { capabilities = ["deny"] }, path "sys/*" { capabilities = ["sudo", "read"] }
