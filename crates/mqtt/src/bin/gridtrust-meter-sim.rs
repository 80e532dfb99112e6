//! `gridtrust-meter-sim`: publishes simulated smart-meter readings (JSON, SenML or CIM
//! MeterReadings) to an MQTT broker with QoS 1, for the demo and for trying an edge's mapping.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use gridtrust_mqtt::config::{PayloadFormat, TlsFiles};
use gridtrust_mqtt::sim::{BrokerOptions, Publisher, SimMeter, SimRun, simulate};

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Senml,
    Cim,
}

/// Publishes simulated meter readings to an MQTT broker (QoS 1, persistent session).
#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 1883)]
    port: u16,
    #[arg(long, default_value = "gridtrust-meter-sim")]
    client_id: String,
    /// The meter's name, used in SenML names and the CIM Meter name.
    #[arg(long, default_value = "MTR1")]
    meter: String,
    #[arg(long, value_enum, default_value = "senml")]
    format: Format,
    /// Topic to publish on (default `meters/<meter>/<format>`).
    #[arg(long)]
    topic: Option<String>,
    /// Number of samples; without it, publishes until interrupted.
    #[arg(long)]
    count: Option<u64>,
    /// Milliseconds between samples.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// CA of the broker's certificate (PEM); with --crl, --certificate and --key, MQTTS with a
    /// client certificate.
    #[arg(long, requires_all = ["crl", "certificate", "key"])]
    ca: Option<PathBuf>,
    /// The CA's CRL (PEM): the broker's certificate is checked against it.
    #[arg(long)]
    crl: Option<PathBuf>,
    #[arg(long)]
    certificate: Option<PathBuf>,
    #[arg(long)]
    key: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let args = Args::parse();
    let format = match args.format {
        Format::Json => PayloadFormat::Json,
        Format::Senml => PayloadFormat::Senml,
        Format::Cim => PayloadFormat::Cim,
    };
    let tls = match (args.ca, args.crl, args.certificate, args.key) {
        (Some(ca), Some(crl), Some(certificate), Some(key)) => Some(TlsFiles { ca, crl, certificate, key }),
        _ => None,
    };
    let options = BrokerOptions { host: args.host, port: args.port, client_id: args.client_id, tls };
    let mut publisher = Publisher::start(&options)?;
    let mut meter = SimMeter::new(&args.meter);
    let topic = args.topic.unwrap_or_else(|| format!("meters/{}/{}", args.meter, format.name()));
    let run = SimRun { format, topic: topic.clone(), count: args.count, interval: Duration::from_millis(args.interval_ms) };
    let sent = simulate(&mut publisher, &mut meter, &run).await?;
    println!("{sent} {} messages published to {topic} and acknowledged by the broker", format.name());
    Ok(())
}
