//! A problem found in a config file, located by line and column so that the
//! user can go straight to it.

use std::fmt;
use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub col: usize,
    /// Where in the config's structure: `network "default" dhcp.ranges[0]`.
    pub field: String,
    /// What is wrong and what to do about it.
    pub message: String,
}

/// Every problem found in one file, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problems {
    pub file: String,
    pub list: Vec<Problem>,
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.list {
            writeln!(
                f,
                "{}:{}:{}: {}: {}",
                self.file, p.line, p.col, p.field, p.message
            )?;
        }
        let n = self.list.len();
        write!(
            f,
            "{}: {n} problem{} found; nothing was applied",
            self.file,
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for Problems {}

/// 1-based line and column (in characters) of byte offset `at` in `src`.
pub fn line_col(src: &str, at: usize) -> (usize, usize) {
    let at = at.min(src.len());
    let before = src.get(..at).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

/// Collects problems against one source text.
pub(super) struct Collector<'a> {
    src: &'a str,
    pub list: Vec<Problem>,
}

impl<'a> Collector<'a> {
    pub(super) fn new(src: &'a str) -> Self {
        Collector {
            src,
            list: Vec::new(),
        }
    }

    pub(super) fn add(&mut self, span: Range<usize>, field: impl Into<String>, message: impl Into<String>) {
        let (line, col) = line_col(self.src, span.start);
        self.list.push(Problem {
            line,
            col,
            field: field.into(),
            message: message.into(),
        });
    }

    pub(super) fn finish(mut self, file: &str) -> Problems {
        self.list.sort_by_key(|p| (p.line, p.col));
        self.list.dedup();
        Problems {
            file: file.to_string(),
            list: self.list,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let s = "a = 1\nbb = 2\n";
        assert_eq!(line_col(s, 0), (1, 1));
        assert_eq!(line_col(s, 6), (2, 1));
        assert_eq!(line_col(s, 11), (2, 6));
        assert_eq!(line_col(s, 999), (3, 1));
    }
}
