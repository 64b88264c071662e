//! Extensions: components outside pipelines (health, storage, authentication).

pub mod file_storage;
pub mod health_check;
