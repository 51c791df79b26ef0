//! One integration-test binary (so the crate links once): the project's own data, and the shared
//! conformance fixtures when they sit beside the repository.

mod adapter_props;
mod checkpoint;
mod checks;
#[cfg(feature = "cluster")]
mod cluster;
mod common;
mod conformance;
mod demo;
mod documents;
mod hostile_inputs;
mod integrity;
mod interrupt;
mod models;
mod outputs;
mod regions;
mod report;
#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "serve")]
mod serve;
mod sql_layer;
mod tiers;
mod vocab;
mod warehouse;
mod watch;
