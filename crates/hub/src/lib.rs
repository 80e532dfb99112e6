//! The hub role: accepts edges, verifies and stores batches, streams to control-centre connectors, routes commands.
