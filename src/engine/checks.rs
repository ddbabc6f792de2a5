//! The check cache (`.darn/checks`): what a rule's check found, keyed by the node's digest (its
//! rule version, parameters and the hashes of every file it reads and writes), and what a run
//! tells about its past executions, keyed by the digest of all its files. A check is a pure
//! function of those, so a verdict found once is never computed again for the same files.
//!
//! Like the stat cache it is only an accelerator: it is dropped when missing, corrupt, or from
//! another darn or another set of rules.

use crate::rules::{Finding, RunExtras};
use crate::util::hash::Hash;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Stored {
    version: u32,
    darn: String,
    rules: Hash,
    /// Non-fresh findings by node digest (a fresh one is what a stamp proves, or is cheap to
    /// record as such).
    findings: HashMap<Hash, Finding>,
    fresh: std::collections::HashSet<Hash>,
    /// Shared with the facts of the runs that use them.
    extras: HashMap<Hash, Arc<RunExtras>>,
}

/// The loaded check cache.
#[derive(Debug, Default)]
pub struct ChecksCache {
    path: Option<PathBuf>,
    stored: Stored,
    /// Entries looked up or added by this command: only those are saved, so entries of files
    /// that no longer exist do not pile up.
    used_findings: std::collections::HashSet<Hash>,
    used_extras: std::collections::HashSet<Hash>,
    dirty: bool,
}

impl ChecksCache {
    /// An empty cache never saved.
    pub fn disabled() -> Self {
        ChecksCache::default()
    }

    /// Loads the cache in directory `read`, to be saved in `write` (`None`: never saved).
    pub fn load(read: &Path, write: Option<&Path>, rules: Hash) -> Self {
        let stored = std::fs::read(read.join("checks"))
            .ok()
            .and_then(|b| postcard::from_bytes::<Stored>(&b).ok())
            .filter(|s| s.version == VERSION && s.darn == env!("CARGO_PKG_VERSION") && s.rules == rules)
            .unwrap_or_else(|| Stored {
                version: VERSION,
                darn: env!("CARGO_PKG_VERSION").to_string(),
                rules,
                ..Stored::default()
            });
        let dirty = write.is_some_and(|w| w != read);
        ChecksCache { path: write.map(|w| w.join("checks")), stored, dirty, ..ChecksCache::default() }
    }

    /// The finding recorded for a node digest.
    pub fn finding(&self, digest: &Hash) -> Option<Finding> {
        if self.stored.fresh.contains(digest) {
            return Some(Finding::Fresh);
        }
        self.stored.findings.get(digest).cloned()
    }

    pub fn extras(&self, digest: &Hash) -> Option<&Arc<RunExtras>> {
        self.stored.extras.get(digest)
    }

    /// Everything one command looked up or found, to keep.
    pub fn record(&mut self, used: Used) {
        for (d, f) in used.findings {
            self.used_findings.insert(d);
            match f {
                Some(Finding::Fresh) => self.dirty |= self.stored.fresh.insert(d),
                Some(f) if self.stored.findings.get(&d) != Some(&f) => {
                    self.stored.findings.insert(d, f);
                    self.dirty = true;
                }
                Some(_) | None => {}
            }
        }
        for (d, x) in used.extras {
            self.used_extras.insert(d);
            if let Some(x) = x
                && self.stored.extras.get(&d) != Some(&x)
            {
                self.stored.extras.insert(d, x);
                self.dirty = true;
            }
        }
    }

    /// Saves what this command used (when anything changed).
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        let before = self.stored.findings.len() + self.stored.fresh.len() + self.stored.extras.len();
        let used_f = &self.used_findings;
        let used_x = &self.used_extras;
        self.stored.findings.retain(|d, _| used_f.contains(d));
        self.stored.fresh.retain(|d| used_f.contains(d));
        self.stored.extras.retain(|d, _| used_x.contains(d));
        let after = self.stored.findings.len() + self.stored.fresh.len() + self.stored.extras.len();
        if !self.dirty && before == after {
            return Ok(());
        }
        let bytes = postcard::to_allocvec(&self.stored).map_err(std::io::Error::other)?;
        crate::util::fs::replace(path, &bytes)?;
        self.dirty = false;
        Ok(())
    }
}

/// What one look at the runs used of the cache and found anew (`None`: used as it was).
#[derive(Debug, Default)]
pub struct Used {
    pub findings: Vec<(Hash, Option<Finding>)>,
    pub extras: Vec<(Hash, Option<Arc<RunExtras>>)>,
}
