//! The demo's field devices beyond the RTU, end to end: a SunSpec PV inverter over Modbus, a PMU
//! over C37.118 and a meter publishing to a real mosquitto broker reach SCADA through edge, hub
//! and cc with good quality, and a verified SCADA set point limits the inverter.

#[path = "../../mqtt/tests/common/mod.rs"]
mod mqtt_peers;

use std::time::Duration;

use gridtrust::chain::{Chain, ChainOptions};
use gridtrust_iec104::asdu::{Asdu, Cause, Cot, Element, InformationObject, TypeId};
use gridtrust_iec104::client::{Client, ClientConfig, ClientEvent};

/// Waits for a valid short float at `ioa` for which `pred` holds, and returns it.
async fn float_at(events: &mut tokio::sync::mpsc::Receiver<ClientEvent>, ioa: u32, pred: impl Fn(f32) -> bool) -> f32 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let ev = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no value at IOA {ioa} in time"))
            .expect("open");
        if let ClientEvent::Asdu(asdu) = ev {
            for o in asdu.objects {
                if let (true, Element::ShortFloat { value, quality, .. }) = (o.ioa == ioa, &o.element)
                    && !quality.invalid
                    && pred(*value)
                {
                    return *value;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pv_inverter_and_pmu_reach_scada_and_a_set_point_limits_the_inverter() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&ChainOptions::for_tests(dir.path())).await.unwrap();
    let (client, mut events) = Client::connect(chain.scada_addr(), None, ClientConfig::default()).await.unwrap();

    // The PMU's frequency (50 Hz ± 50 mHz) and the inverter's power, verified all the way.
    float_at(&mut events, 21_001, |hz| (49.9..50.1).contains(&hz)).await;
    float_at(&mut events, 21_003, |v| v > 1_000.0).await;
    float_at(&mut events, 20_001, |w| w > 100.0).await;

    // SCADA limits the inverter to 30 %: C_SE_NC_1 → cc signs → hub countersigns → edge
    // verifies → Modbus write of WMaxLimPct on the SunSpec model 123, then enables the limit.
    let client = &client;
    let operate = |type_id, ioa, element| async move {
        let reply = client
            .send_command(Asdu::single(type_id, Cot::new(Cause::Activation), 1, vec![InformationObject::new(ioa, element)]))
            .await
            .unwrap();
        assert!(reply.is_positive(), "command at IOA {ioa} confirmed: {:?}", reply.confirmation);
        reply.await_termination().await.expect("ACTTERM after the inverter read the value back");
    };
    operate(TypeId::CSeNc1, 20_101, Element::SetpointFloat { value: 30.0, qualifier: 0, select: false, time: None }).await;
    operate(TypeId::CScNa1, 20_103, Element::SingleCommand { value: true, qualifier: 0, select: false, time: None }).await;

    // The inverter obeys (its limit is 3 kW of 10 kW) and SCADA reads the limit back through the chain.
    let limit = chain.field.pv.snapshot().limit_w();
    assert!(limit.is_some_and(|w| (w - 3_000.0).abs() < 1.0), "inverter limit {limit:?}");
    float_at(&mut events, 20_005, |pct| (pct - 30.0).abs() < 0.01).await;
    float_at(&mut events, 20_001, |w| w <= 3_000.5).await;
    assert!(chain.cc.alarms().is_empty(), "no alarms: {:?}", chain.cc.alarms());
    chain.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meter_publishing_to_mosquitto_reaches_scada() {
    if !mqtt_peers::mosquitto_available("a_meter_publishing_to_mosquitto_reaches_scada") {
        return;
    }
    let broker = mqtt_peers::Mosquitto::start(None);
    let dir = tempfile::tempdir().unwrap();
    let mut opts = ChainOptions::for_tests(dir.path());
    opts.field.mqtt_broker = Some(format!("127.0.0.1:{}", broker.port));
    let chain = Chain::start(&opts).await.unwrap();
    let (_client, mut events) = Client::connect(chain.scada_addr(), None, ClientConfig::default()).await.unwrap();

    // SenML energy in kWh arrives in Wh (the simulated meter starts at 1 MWh), power and voltage as sent.
    float_at(&mut events, 22_001, |wh| wh >= 1_000_000.0).await;
    float_at(&mut events, 22_002, |w| (700.0..2_300.0).contains(&w)).await;
    float_at(&mut events, 22_003, |v| (220.0..240.0).contains(&v)).await;
    chain.shutdown().await;
    drop(broker);
}
