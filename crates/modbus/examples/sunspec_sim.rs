//! Runs the SunSpec PV inverter simulator on a port, for the demo and for poking at it with
//! Modbus tools: `cargo run -p gridtrust-modbus --example sunspec_sim -- 127.0.0.1:1502 10000 600`
//! (address, rating in W, seconds per simulated day; starts at 08:00).

use std::time::Duration;

use gridtrust_modbus::sim::Simulator;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bind = args.next().unwrap_or_else(|| "127.0.0.1:1502".into()).parse()?;
    let rating: u16 = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let day: u64 = args.next().map_or(Ok(600), |a| a.parse())?;
    let sim = Simulator::start(bind, rating, Duration::from_secs(day), 1.0 / 3.0).await?;
    println!("SunSpec inverter simulator on {} (models 1, 103, 120, 123 at 40000); Ctrl-C stops it", sim.address);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
