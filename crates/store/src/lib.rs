//! Embedded storage: the edge's durable queue and the hub's idempotent record store and time series.
