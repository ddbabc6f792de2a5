//! `checkpoint.json` (LAYOUT §2.2): the runner's resume state.

use crate::era::Era;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The checkpoint's `config_hash`: the first 16 hex digits of SHA-256 over
/// `json.dumps(config, sort_keys=True)`, without the keys the era's runner leaves out. The
/// current runner also hashed fields that are not in `experiment.json` (B34), so darn keeps an
/// existing hash and only computes one for a checkpoint it creates.
pub fn config_hash(config: &Value, era: Era) -> String {
    let mut dict = config.clone();
    if let Some(obj) = dict.as_object_mut() {
        let drop: &[&str] = match era {
            Era::Jan2026 => &["parallel_subtests", "max_subtests"],
            Era::Head => {
                &["parallel_subtests", "parallel_high", "parallel_med", "parallel_low", "max_subtests", "tiers_to_run"]
            }
        };
        for key in drop {
            obj.remove(*key);
        }
    }
    let text = crate::pyjson::to_string_sorted_compact(&dict);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_the_fixture_config_hash() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/scylla-dryrun/config/experiment.json");
        let config = crate::pyjson::parse(&std::fs::read(path).expect("fixture")).expect("json");
        assert_eq!(config_hash(&config, Era::Jan2026), "8553442b41f0adc8");
    }
}
