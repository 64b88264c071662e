//! Extensions: components outside pipelines (health, storage, authentication).
