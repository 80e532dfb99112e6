# Peer of the power flow and state estimator (crates/grid): power-grid-model (PyPI) solves the
# same generated radial grids in crates/grid/tests/pgm_peer.rs and is the baseline of
# `cargo run --release -p gridtrust-grid --bin grid-bench`.
pip_need power_grid_model power-grid-model==1.12.110
