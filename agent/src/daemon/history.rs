//! The errors the agent met, for `netagent status`: what is wrong now, and
//! each error once, when it started (an error that lasts is not repeated
//! every second), the newest last, at most `KEEP`.

use std::collections::VecDeque;

const KEEP: usize = 20;

#[derive(Default)]
pub(super) struct ErrorLog {
    /// (unix seconds, message)
    entries: VecDeque<(u64, String)>,
    /// The errors of the last pass: what is wrong now, and how a new error
    /// is told from a lasting one.
    active: Vec<String>,
}

impl ErrorLog {
    /// Record the errors of one pass made at `now`.
    pub(super) fn note(&mut self, now: u64, errors: &[String]) {
        for e in errors {
            if !self.active.contains(e) {
                if self.entries.len() == KEEP {
                    self.entries.pop_front();
                }
                self.entries.push_back((now, e.clone()));
            }
        }
        self.active = errors.to_vec();
    }

    /// Something that happened, not wrong now: recorded once, as it is.
    pub(super) fn event(&mut self, now: u64, what: &str) {
        if self.entries.len() == KEEP {
            self.entries.pop_front();
        }
        self.entries.push_back((now, what.to_string()));
    }

    /// What is wrong now.
    pub(super) fn now(&self) -> &[String] {
        &self.active
    }

    pub(super) fn entries(&self) -> impl Iterator<Item = &(u64, String)> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_recorded_when_it_starts() {
        let mut log = ErrorLog::default();
        let e = vec!["dns a: listen on 10.0.0.1:53: Address in use".to_string()];
        log.note(100, &e);
        log.note(101, &e);
        log.note(102, &[]);
        log.note(103, &e);
        let got: Vec<u64> = log.entries().map(|(t, _)| *t).collect();
        assert_eq!(got, vec![100, 103]);
    }

    #[test]
    fn only_the_newest_are_kept() {
        let mut log = ErrorLog::default();
        for i in 0..30 {
            log.note(i, &[format!("error {i}")]);
        }
        let got: Vec<&str> = log.entries().map(|(_, m)| m.as_str()).collect();
        assert_eq!(got.len(), KEEP);
        assert_eq!(got[0], "error 10");
        assert_eq!(got[KEEP - 1], "error 29");
    }
}
