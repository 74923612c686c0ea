//! The crate's shared vocabulary: what can be wrong with a value ([`Issue`]), why bytes could
//! not be decoded ([`DecodeError`]), and where (a byte offset, then line and column). Every other
//! module reports through these, so none of them needs another for its errors.

use std::fmt;

use kiss_schema::FieldType;
use serde::Serialize;
use thiserror::Error;

/// A syntax error at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

/// What was wrong with one value of a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "issue", rename_all = "snake_case")]
pub enum IssueKind {
    /// A required field is absent.
    MissingRequired,
    /// A required field is `null`.
    RequiredIsNull,
    /// The value is not of the declared type; it is kept as it came.
    TypeMismatch {
        /// The declared type.
        expected: FieldType,
        /// What the JSON held.
        found: &'static str,
    },
    /// The schema does not know this key; the value is kept with an inferred type.
    UnknownField,
    /// The key appears twice; the last value is kept.
    DuplicateKey,
}

/// One issue, with the path of the value (`ProductImages[1].ImageID`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    /// Where: the key, with nested array and element index when nested.
    pub path: String,
    /// What.
    #[serde(flatten)]
    pub kind: IssueKind,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            IssueKind::MissingRequired => write!(f, "{}: required field is missing", self.path),
            IssueKind::RequiredIsNull => write!(f, "{}: required field is null", self.path),
            IssueKind::TypeMismatch { expected, found } => {
                write!(f, "{}: expected {expected}, found {found}", self.path)
            }
            IssueKind::UnknownField => write!(f, "{}: field not in the schema", self.path),
            IssueKind::DuplicateKey => write!(f, "{}: key appears more than once", self.path),
        }
    }
}

/// A record or array that could not be decoded.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// The bytes are not the JSON expected (not JSON, or not an object / array of objects).
    #[error("invalid JSON at line {line}, column {column}: {message}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// serde_json's description.
        message: String,
    },
    /// Strict mode met an issue.
    #[error("{issue} (strict decoding; decode leniently to keep such values and see every issue)")]
    Strict {
        /// The first issue.
        issue: Issue,
    },
}

impl DecodeError {
    pub(crate) fn at(bytes: &[u8], error: SyntaxError) -> DecodeError {
        let (line, column) = line_and_column(bytes, error.offset);
        DecodeError::Json {
            line,
            column,
            message: error.message,
        }
    }
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_and_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = before.len()
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_lines_and_columns() {
        assert_eq!(line_and_column(b"ab\ncd", 4), (2, 2));
        assert_eq!(line_and_column(b"ab", 0), (1, 1));
    }
}
