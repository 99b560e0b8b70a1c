//! The caller's vault token, kept so that it cannot be printed by accident.

use tonic::metadata::{Ascii, MetadataValue};

use crate::ClientError;

/// A vault token, ready to go in the `x-vault-token` metadata.
///
/// `Debug` prints `<redacted>` and there is no `Display`: the one place the
/// token is read is `Token::expose_metadata`, inside this crate, when a
/// request is built. The value is marked sensitive, so the HTTP/2 layer does
/// not add it to its header compression table.
#[derive(Clone)]
pub struct Token(MetadataValue<Ascii>);

impl Token {
    /// A token from its text.
    pub fn new(token: &str) -> Result<Token, ClientError> {
        let value = MetadataValue::try_from(token).map_err(|_| ClientError::InvalidToken)?;
        Ok(Token::from(value))
    }

    /// The metadata value to attach to a request. Every read of the token goes
    /// through here, so a search for this name finds them all.
    pub(crate) fn expose_metadata(&self) -> MetadataValue<Ascii> {
        self.0.clone()
    }
}

/// For callers that already hold the token as metadata (e.g. taken from a
/// request their own client built).
impl From<MetadataValue<Ascii>> for Token {
    fn from(mut value: MetadataValue<Ascii>) -> Token {
        value.set_sensitive(true);
        Token(value)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let token = Token::new("s.very-secret").unwrap();
        let printed = format!("{token:?} {token:#?}");
        assert!(!printed.contains("very-secret"), "{printed}");
        assert!(token.expose_metadata().is_sensitive());
    }

    #[test]
    fn a_token_metadata_cannot_carry_is_refused() {
        assert!(matches!(
            Token::new("line\nbreak"),
            Err(ClientError::InvalidToken)
        ));
    }
}
