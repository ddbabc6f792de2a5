//! What can be wrong with a file darn reads, as data (the printer words it).

use crate::py::json as pyjson;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Why a file that exists could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IoProblem {
    PermissionDenied,
    /// A directory where a file belongs.
    IsADirectory,
    /// A file where a directory belongs (a path component is not a directory).
    NotADirectory,
    /// A symbolic link loop, or a name too long.
    Unresolvable,
    /// A pipe, socket or device where a file belongs.
    NotAFile,
    Other,
}

/// The error of opening something that is not a regular file (a pipe, a socket, a device).
#[derive(Debug)]
pub struct NotAFile;

impl std::fmt::Display for NotAFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not a regular file")
    }
}

impl std::error::Error for NotAFile {}

impl IoProblem {
    pub fn of(e: &std::io::Error) -> IoProblem {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::PermissionDenied => IoProblem::PermissionDenied,
            K::IsADirectory => IoProblem::IsADirectory,
            K::NotADirectory => IoProblem::NotADirectory,
            K::InvalidFilename => IoProblem::Unresolvable,
            _ if e.get_ref().is_some_and(|x| x.is::<NotAFile>()) => IoProblem::NotAFile,
            _ if e.raw_os_error() == Some(libc::ELOOP) => IoProblem::Unresolvable,
            _ => IoProblem::Other,
        }
    }
}

/// What is wrong with the content of a file that exists.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Malformed {
    /// Empty, or only whitespace.
    Empty,
    /// Not JSON (syntax error at this position).
    NotJson { line: u32, column: u32 },
    /// JSON that ends early: the file was cut short.
    Truncated,
    /// JSON, but not an object.
    NotObject,
    /// A key the file must have is absent.
    MissingKey(Box<str>),
    /// A key holds the wrong type of value.
    WrongType { key: Box<str>, expected: JsonType },
    /// A number outside the range it must be in.
    OutOfRange { key: Box<str>, value: Box<str> },
    /// Keys under other names than the runner's (an old repair script wrote them).
    WrongKeys { found: Box<str>, expected: Box<str> },
    /// A list that must not be empty is (the runner lost it on a resume).
    EmptyList(Box<str>),
}

/// The type a JSON value should have had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JsonType {
    Number,
    String,
    Bool,
    Object,
    Array,
}

/// Why a file gives no usable content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Unusable {
    Missing,
    Unreadable(IoProblem),
    Malformed(Malformed),
}

/// Parses JSON, saying what is wrong with it when it is not usable JSON.
pub fn parse_json(bytes: &[u8]) -> Result<Value, Malformed> {
    read_json_with(bytes, pyjson::parse)
}

/// What [`parse_json`] would say is wrong with `bytes`, without building the value: for files
/// too large to hold parsed (an aggregate of 100,000 runs).
pub fn check_json(bytes: &[u8]) -> Result<(), Malformed> {
    read_json_with(bytes, |b| crate::py::json_digest::semantic_digest(b, &[]).map(drop))
}

/// `bytes` through a JSON reader, its failure said as what is wrong with the file.
fn read_json_with<T>(bytes: &[u8], read: impl FnOnce(&[u8]) -> Result<T, pyjson::ParseError>) -> Result<T, Malformed> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Malformed::Empty);
    }
    read(bytes).map_err(|e| {
        if e.eof { Malformed::Truncated } else { Malformed::NotJson { line: e.line as u32, column: e.column as u32 } }
    })
}

/// A JSON file that must hold an object.
pub fn parse_object(bytes: &[u8]) -> Result<Value, Malformed> {
    let v = parse_json(bytes)?;
    if v.is_object() { Ok(v) } else { Err(Malformed::NotObject) }
}
