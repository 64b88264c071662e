//! Extensions: components outside pipelines (health, storage, authentication).

pub mod health_check;
