//! The edge role: field adapters, batching, durable queue, forwarding to the hub, command execution.
