//! Code generated from the thrift IDL under `proto/thrift/` by `proto/thrift/generate.sh` (Debian's
//! thrift-compiler 0.17). Do not edit; regenerate.
#![allow(
    clippy::all,
    dead_code,
    non_camel_case_types,
    unused_imports,
    unused_mut
)]

pub mod jaeger;
pub mod zipkincore;
