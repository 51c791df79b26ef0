//! One integration-test binary (so the crate links once): the project's own data, and the shared
//! conformance fixtures when they sit beside the repository.

mod adapter_props;
mod checks;
mod common;
mod conformance;
mod demo;
mod models;
mod report;
mod tiers;
mod warehouse;
