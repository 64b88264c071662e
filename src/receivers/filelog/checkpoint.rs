//! Offsets of known files, kept in the `storage:` extension's directory so they survive a restart and
//! a kill -9.
//!
//! The `file_storage` extension hands each client a directory (`receiver_filelog_<name>`); the
//! receiver keeps one file there, `checkpoints.json`, written whole to `checkpoints.json.tmp` (fsync'd
//! when the extension has `fsync: true`) and renamed over the old one, so a crash leaves either the
//! old or the new checkpoint, never a torn one. Each entry: the file's fingerprint (base64 of its first
//! `fingerprint_size` bytes), the offset up to which the pipeline accepted its records, its record
//! count, and its last path (informational).

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Known {
    pub fingerprint: String,
    pub offset: u64,
    #[serde(default)]
    pub record_number: u64,
    #[serde(default)]
    pub path: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    files: Vec<Known>,
}

pub struct Checkpoints {
    path: PathBuf,
    fsync: bool,
}

pub fn encode_fp(fp: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(fp)
}

pub fn decode_fp(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

impl Checkpoints {
    pub fn new(dir: &Path, fsync: bool) -> Checkpoints {
        Checkpoints {
            path: dir.join("checkpoints.json"),
            fsync,
        }
    }

    /// The saved offsets; a missing file is an empty list, an unreadable one an error.
    pub fn load(&self) -> Result<Vec<Known>, String> {
        match std::fs::read(&self.path) {
            Ok(b) => serde_json::from_slice::<File>(&b)
                .map(|f| f.files)
                .map_err(|e| format!("corrupt checkpoint file {}: {e}", self.path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(vec![]),
            Err(e) => Err(format!("cannot read {}: {e}", self.path.display())),
        }
    }

    pub fn save(&self, files: Vec<Known>) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        let body =
            serde_json::to_vec(&File { version: 1, files }).map_err(std::io::Error::other)?;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        if self.fsync {
            f.sync_all()?;
        }
        drop(f);
        std::fs::rename(&tmp, &self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let d = tempfile::tempdir().unwrap();
        let c = Checkpoints::new(d.path(), true);
        assert!(c.load().unwrap().is_empty());
        let k = Known {
            fingerprint: encode_fp(b"abc"),
            offset: 7,
            record_number: 2,
            path: "/x".into(),
        };
        c.save(vec![k.clone()]).unwrap();
        assert_eq!(c.load().unwrap(), vec![k]);
        std::fs::write(d.path().join("checkpoints.json"), b"{").unwrap();
        assert!(c.load().is_err());
    }
}
