//! A run's files as the rules read them: contents on demand (from the first look's bytes, or read
//! now and checked against the hash the look recorded), parsed JSON, text.

use super::dir::Dir;
use super::files::{FileState, KEEP_LIMIT, Loaded, RunFiles, read_file};
use crate::experiment::files::RunFile;
pub use crate::util::problem::{IoProblem, JsonType, Malformed, Unusable, parse_json};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::path::Path;
use std::sync::Arc;

/// The content of one file.
#[derive(Debug, Clone)]
pub enum Content {
    Absent,
    Bytes(Arc<[u8]>),
    Unreadable(IoProblem),
}

/// Lazily read contents of one run's files.
pub struct RunSources<'a> {
    pub dir: &'a Path,
    pub files: &'a RunFiles,
    handle: Dir<'a>,
    loaded: RefCell<Loaded>,
    /// JSON files parsed so far: several rules read `run_result.json`, each once.
    parsed: RefCell<std::collections::HashMap<RunFile, Result<Arc<Value>, Unusable>>>,
    /// A file's content no longer matched the hash its look recorded: the run changed while
    /// darn looked at it, and what was decided from it must not be kept.
    changed: Cell<bool>,
}

impl<'a> RunSources<'a> {
    pub fn new(dir: &'a Path, files: &'a RunFiles, loaded: Loaded) -> Self {
        RunSources {
            dir,
            files,
            handle: Dir::new(dir),
            loaded: RefCell::new(loaded),
            parsed: RefCell::default(),
            changed: Cell::new(false),
        }
    }

    /// Whether a file changed since the look (see `changed`).
    pub fn changed(&self) -> bool {
        self.changed.get()
    }

    pub fn exists(&self, f: RunFile) -> bool {
        self.files.present(f)
    }

    /// The content of a file. Absence comes from the look: a file that appeared since is not read.
    pub fn read(&self, f: RunFile) -> Content {
        match self.files.state(f) {
            FileState::Absent => return Content::Absent,
            FileState::Unreadable(p) => return Content::Unreadable(p),
            FileState::Present(_) => {}
        }
        if let Some(b) = self.loaded.borrow().get(&f) {
            return Content::Bytes(Arc::clone(b));
        }
        match self.handle.open(f.as_str()).and_then(read_file) {
            Ok((_, hash, bytes)) => {
                if hash != self.files.hash(f) {
                    self.changed.set(true);
                }
                let bytes: Arc<[u8]> = match bytes {
                    Some(b) => Arc::from(b),
                    // Larger than what the look keeps: read whole for the rule that needs it.
                    None => match std::fs::read(self.dir.join(f.as_str())) {
                        Ok(b) => Arc::from(b),
                        Err(e) => return Content::Unreadable(IoProblem::of(&e)),
                    },
                };
                self.loaded.borrow_mut().insert(f, Arc::clone(&bytes));
                Content::Bytes(bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.changed.set(true);
                Content::Absent
            }
            Err(e) => Content::Unreadable(IoProblem::of(&e)),
        }
    }

    /// A present file too large to keep in memory (over [`KEEP_LIMIT`]), opened for a streamed
    /// read; `None` when it is absent, unreadable or small enough to read whole.
    pub fn open_large(&self, f: RunFile) -> Option<std::fs::File> {
        if !matches!(self.files.state(f), FileState::Present(_)) || self.loaded.borrow().contains_key(&f) {
            return None;
        }
        let file = self.handle.open(f.as_str()).ok()?;
        let size = file.metadata().ok()?.len();
        (size > KEEP_LIMIT).then_some(file)
    }

    /// The bytes of a file, or why there are none.
    pub fn bytes(&self, f: RunFile) -> Result<Arc<[u8]>, Unusable> {
        match self.read(f) {
            Content::Absent => Err(Unusable::Missing),
            Content::Unreadable(p) => Err(Unusable::Unreadable(p)),
            Content::Bytes(b) => Ok(b),
        }
    }

    /// A text file (invalid UTF-8 replaced), or `None` when absent or unreadable.
    pub fn text(&self, f: RunFile) -> Option<String> {
        self.bytes(f).ok().map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// A JSON file, parsed the way the runner reads it (once per file).
    pub fn json(&self, f: RunFile) -> Result<Arc<Value>, Unusable> {
        if let Some(v) = self.parsed.borrow().get(&f) {
            return v.clone();
        }
        let v = self.bytes(f).and_then(|b| parse_json(&b).map(Arc::new).map_err(Unusable::Malformed));
        self.parsed.borrow_mut().insert(f, v.clone());
        v
    }
}
