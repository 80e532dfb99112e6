//! The hub role: the cloud interoperability layer. It accepts edges over mutual TLS, checks
//! every batch's integrity and chain, stores it idempotently by (edge, seq), keeps the latest
//! value image and the time series, streams each batch unchanged to control-centre connectors
//! (which verify again themselves), and routes commands from connectors to the edge that owns
//! the point and their results back.
//!
//! The hub never holds field keys: it can refuse or lose data, but not forge it unseen. It
//! appends everything it accepts to a transparency log ([`ledger`]) whose signed checkpoints
//! connectors check for consistency, and countersigns only commands its [`policy`] allows.
//!
//! With `[api]` configured it also serves the HTTP API (crate `gridtrust-api`, implemented for
//! the hub in the private `api` module) and the web UI: values with their trust status
//! (batches that fail verification are refused from the store but their values are kept
//! apart as trust=failed), downsampled history, [`alarms`], [`evidence`] for any value,
//! commands people sign with their passkeys ([`console`], [`enrol`]), and the grid model:
//! the imported IEC 61850 / CIM model of `[model] file` ([`grid_model`]), with points it does
//! not know appended, or without one the [`model`] derived from point references.
//!
//! With `[estimation]` it also checks the measurements on the live stream ([`estimation`]):
//! state estimation with the bad-data test, the security index against stealthy false-data
//! injection per bus, and per-point learned profiles; findings are alarms like the trust ones.
//!
//! With a `[model]` the alarms are also correlated into incidents with ranked recommended
//! actions (the private `incidents` module over `gridtrust-assist`), served at
//! `GET /api/incidents`; a re-route via a tie switch is proposed only when a power flow on the
//! `[estimation] cgmes` files passes.
//!
//! Web commands are signed by the person's passkey, whose key the operator CA bound to them and
//! their role, and every edge verifies that assertion itself, so a compromised hub cannot issue
//! them. The older console key at the hub (`[api.console]`) remains only as a fallback that is
//! off by default and that edges must accept explicitly. See [`console`].

pub mod alarms;
mod api;
mod config;
pub mod console;
pub mod enrol;
pub mod estimation;
pub mod evidence;
pub mod grid_model;
mod incidents;
pub mod ledger;
pub mod liveness;
pub mod model;
mod pending;
pub mod policy;
mod revocation;
mod server;

pub use config::{AuthorityConfig, HubConfig, ModelConfig};

/// The point registry the hub accepted last, in its data directory (exports read it).
pub const REGISTRY_FILE: &str = "registry.signed";
pub use server::{EnrolmentCa, Hub, HubError, HubOptions, HubStats};
