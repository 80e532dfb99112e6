//! The control-room web UI's static files, embedded in the binary.
//!
//! The hub merges [`router`] into its HTTP server beside the REST API.

use axum::Router;
use axum::response::Html;
use axum::routing::get;

/// Serves the UI's pages and assets.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/", get(|| async { Html("<!doctype html><title>gridtrust</title><p>The web UI is being built.</p>") }))
}
