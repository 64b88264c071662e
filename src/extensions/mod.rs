//! Extensions: components outside pipelines (health, storage, authentication).

pub mod auth;
pub mod basicauth;
pub mod bearertokenauth;
pub mod file_storage;
pub mod headers_setter;
pub mod health_check;
