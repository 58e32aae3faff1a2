//! Who may see the page: HTTP Basic with user "netagent" and the config's
//! password, compared in constant time; and the token a write would need
//! (there are none yet: the control socket is the way to change anything,
//! so every POST is refused, with 403 without the token).

use base64::Engine;
use subtle::ConstantTimeEq;

pub(crate) const USER: &str = "netagent";

/// Whether an `Authorization` header's value grants access.
pub(crate) fn allowed(header: Option<&[u8]>, password: Option<&str>) -> bool {
    let Some(password) = password else {
        return true; // loopback only: `check` refused anything else
    };
    let Some(given) = header.and_then(|h| h.strip_prefix(b"Basic ")) else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(given.trim_ascii()) else {
        return false;
    };
    let want = format!("{USER}:{password}");
    // Equal lengths first would leak the length; ct_eq of unequal lengths
    // is false in time independent of the contents.
    decoded.as_slice().ct_eq(want.as_bytes()).into()
}

/// Whether a request's token matches the page's.
pub(crate) fn token_ok(given: Option<&[u8]>, token: &str) -> bool {
    given.is_some_and(|g| g.ct_eq(token.as_bytes()).into())
}

/// A fresh random token, as hex.
pub(crate) fn new_token() -> String {
    let mut b = [0u8; 16];
    // The kernel's generator does not fail on Linux after boot.
    let _ = getrandom::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(s: &str) -> Vec<u8> {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(s)).into_bytes()
    }

    #[test]
    fn only_the_right_user_and_password_get_in() {
        let pw = Some("correct horse battery");
        assert!(allowed(Some(&basic("netagent:correct horse battery")), pw));
        assert!(!allowed(Some(&basic("netagent:correct horse batter")), pw));
        assert!(!allowed(Some(&basic("admin:correct horse battery")), pw));
        assert!(!allowed(Some(b"Basic !!!notbase64"), pw));
        assert!(!allowed(Some(b"Bearer x"), pw));
        assert!(!allowed(None, pw));
        assert!(allowed(None, None), "no password: loopback only");
    }

    #[test]
    fn tokens_are_random_and_checked_whole() {
        let t = new_token();
        assert_eq!(t.len(), 32);
        assert_ne!(t, new_token());
        assert!(token_ok(Some(t.as_bytes()), &t));
        assert!(!token_ok(Some(&t.as_bytes()[..31]), &t));
        assert!(!token_ok(None, &t));
    }
}
