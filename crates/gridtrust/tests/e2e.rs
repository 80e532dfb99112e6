//! The whole chain, RTU simulator → edge → hub → cc → SCADA client, values and a command both ways.

mod support;

use std::time::Duration;

use gridtrust::chain::{Chain, ChainOptions, SCADA_IOA_OFFSET};
use gridtrust_iec104::asdu::{Asdu, Cause, Cot, DoublePointValue, Element, InformationObject, QOI_STATION, TypeId};
use gridtrust_iec104::client::{Client, ClientConfig, ClientEvent};
use gridtrust_sim::substation::ioa;

const F1: u32 = 1000;

async fn next_value(events: &mut tokio::sync::mpsc::Receiver<ClientEvent>, want_ioa: u32, pred: impl Fn(&Element) -> bool) -> Element {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let ev = tokio::time::timeout_at(deadline, events.recv()).await.expect("value in time").expect("connection open");
        if let ClientEvent::Asdu(asdu) = ev {
            for o in asdu.objects {
                if o.ioa == want_ioa && pred(&o.element) {
                    return o.element;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_reach_scada_verified_and_a_breaker_command_reaches_the_rtu() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&ChainOptions::for_tests(dir.path())).await.unwrap();
    let (client, mut events) = Client::connect(chain.scada_addr(), None, ClientConfig::default()).await.unwrap();

    // A live, verified measurement arrives with good quality under the cc's own address.
    let p = next_value(
        &mut events,
        SCADA_IOA_OFFSET + F1 + ioa::P,
        |e| matches!(e, Element::ShortFloat { value, quality, .. } if *value > 1.0 && !quality.invalid),
    )
    .await;
    assert!(matches!(p, Element::ShortFloat { .. }));

    // Interrogation answers the breaker as closed and good.
    let gi = client.interrogate(1, QOI_STATION).await.unwrap();
    assert!(gi.is_positive());
    next_value(
        &mut events,
        SCADA_IOA_OFFSET + F1 + ioa::BREAKER,
        |e| matches!(e, Element::DoublePoint { value: DoublePointValue::On, quality, .. } if !quality.invalid),
    )
    .await;

    // Open breaker F1 with select-before-operate, end to end.
    let command = |select: bool| {
        Asdu::single(
            TypeId::CDcNa1,
            Cot::new(Cause::Activation),
            1,
            vec![InformationObject::new(
                SCADA_IOA_OFFSET + F1 + ioa::BREAKER_COMMAND,
                Element::DoubleCommand { value: DoublePointValue::Off, qualifier: 0, select, time: None },
            )],
        )
    };
    let select = client.send_command(command(true)).await.unwrap();
    assert!(select.is_positive(), "select confirmed: {:?}", select.confirmation);
    let execute = client.send_command(command(false)).await.unwrap();
    assert!(execute.is_positive(), "execute confirmed: {:?}", execute.confirmation);
    execute.await_termination().await.expect("ACTTERM from the device, through the chain");

    // The RTU's breaker moved, and SCADA sees it (and the feeder's power drop) through the chain.
    next_value(
        &mut events,
        SCADA_IOA_OFFSET + F1 + ioa::BREAKER,
        |e| matches!(e, Element::DoublePoint { value: DoublePointValue::Off, quality, .. } if !quality.invalid),
    )
    .await;
    next_value(&mut events, SCADA_IOA_OFFSET + F1 + ioa::P, |e| matches!(e, Element::ShortFloat { value, .. } if *value == 0.0)).await;
    assert!(chain.cc.alarms().is_empty(), "no alarms on a clean chain: {:?}", chain.cc.alarms());

    // An execute without a select is refused by the cc's station (SBO point).
    let direct = client.send_command(command(false)).await.unwrap();
    assert!(!direct.is_positive());
    chain.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_c104_scada_client_sees_values_and_opens_a_breaker_through_the_chain() {
    if !support::c104_available("a_c104_scada_client_sees_values_and_opens_a_breaker_through_the_chain") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::start(&ChainOptions::for_tests(dir.path())).await.unwrap();
    let script = format!("{}/tests/peers/c104_scada.py", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new("python3")
            .arg("-u")
            .arg(script)
            .arg(chain.scada_addr().port().to_string())
            .arg((SCADA_IOA_OFFSET + F1 + ioa::P).to_string())
            .arg((SCADA_IOA_OFFSET + F1 + ioa::BREAKER).to_string())
            .arg((SCADA_IOA_OFFSET + F1 + ioa::BREAKER_COMMAND).to_string())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("c104 client finishes")
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("c104 client said:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "c104 client failed: {stdout}");
    assert!(stdout.contains("command_confirmed=True") && stdout.contains("position=OFF"));
    chain.shutdown().await;
}
