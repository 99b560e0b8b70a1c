//! Kubernetes' TokenReview API (`POST /apis/authentication.k8s.io/v1/
//! tokenreviews`): the API server says whether a service account token is
//! live (signed by it, not expired, its account and, for a bound token, its
//! pod or secret still there), and whose it is. The request is authorised
//! by the reviewer's token (which needs `system:auth-delegator`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::https_client::{self, HttpsError, Limits, Outbound};
use crate::secret::SecretString;

const REVIEW: Limits = Limits {
    deadline: Duration::from_secs(10),
    max_body: 64 * 1024,
};

/// Whose a live token is, as the API server says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reviewed {
    /// The account's namespace.
    pub namespace: String,
    /// The account's name.
    pub name: String,
    /// The account's uid.
    pub uid: String,
    /// The audiences the token is valid for.
    pub audiences: Vec<String>,
}

/// Why a review gave no account.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReviewError {
    /// The API server could not be reached or answered badly.
    #[error("cannot review the token with the Kubernetes API: {0}")]
    Unreachable(String),
    /// The API server refused the reviewer.
    #[error(
        "the Kubernetes API refused the token review (HTTP {0}): the reviewer's token needs \
         the system:auth-delegator role"
    )]
    Forbidden(u16),
    /// The token is not live (its account deleted, the token revoked or
    /// expired, or not for the audience).
    #[error("the token is not valid")]
    Unauthenticated,
    /// The token is live but not a service account's.
    #[error("the token does not belong to a service account")]
    NotServiceAccount,
}

/// Reviews `jwt` at `host` (checked against `ca_pem`), for `audience` if
/// one is asked, authorised by `reviewer` (or by `jwt` itself).
pub(super) async fn review(
    host: &str,
    ca_pem: &str,
    reviewer: Option<&SecretString>,
    jwt: &SecretString,
    audience: &str,
) -> Result<Reviewed, ReviewError> {
    let mut spec = json!({ "token": jwt.expose_secret() });
    if !audience.is_empty() {
        spec["audiences"] = json!([audience]);
    }
    let body = zeroize::Zeroizing::new(
        json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": spec,
        })
        .to_string()
        .into_bytes(),
    );
    let url = format!("{host}/apis/authentication.k8s.io/v1/tokenreviews");
    let answer = https_client::send(
        Outbound {
            url: &url,
            ca_pem: Some(ca_pem).filter(|c| !c.is_empty()),
            bearer: Some(reviewer.unwrap_or(jwt)),
            json_body: Some(body.to_vec()),
        },
        REVIEW,
    )
    .await
    .map_err(|e: HttpsError| ReviewError::Unreachable(e.to_string()))?;
    match answer.status {
        200 | 201 => {}
        401 | 403 => return Err(ReviewError::Forbidden(answer.status)),
        other => {
            return Err(ReviewError::Unreachable(format!(
                "the API server answered HTTP {other}"
            )));
        }
    }
    let limits = crate::json_limits::JsonLimits {
        max_depth: 8,
        ..crate::json_limits::JsonLimits::default()
    };
    let document = crate::json_limits::parse_object(&answer.body, &limits)
        .map_err(|e| ReviewError::Unreachable(format!("the answer is not JSON: {e}")))?;
    let status = document.get("status").cloned().unwrap_or(Value::Null);
    if status.get("authenticated").and_then(Value::as_bool) != Some(true) {
        return Err(ReviewError::Unauthenticated);
    }
    let user = &status["user"];
    let username = user["username"].as_str().unwrap_or_default();
    let mut parts = username.splitn(4, ':');
    let (Some("system"), Some("serviceaccount"), Some(namespace), Some(name)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReviewError::NotServiceAccount);
    };
    Ok(Reviewed {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        uid: user["uid"].as_str().unwrap_or_default().to_owned(),
        audiences: status["audiences"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
}
