//! The edge adapter against our SunSpec simulator over loopback: discovery, scaled values,
//! explicit registers, verified set points with read-back, refusal with the device's exception,
//! invalid quality when the device goes away, and dead devices not delaying a healthy one.

mod support;

use std::time::{Duration, Instant};

use gridtrust_modbus::sim::{CONTROLS_ADDRESS, INVERTER_ADDRESS, Simulator};
use gridtrust_model::{CommandAction, CommandOutcome, CommandValue, DoublePoint, Validity, Value};
use support::{device, operate, start_adapter, wait_datum};

const STEP: Duration = Duration::from_secs(5);

async fn noon_sim() -> Simulator {
    // A day of 10^6 s: the sun barely moves during the test.
    Simulator::start("127.0.0.1:0".parse().unwrap(), 10_000, Duration::from_secs(1_000_000), 0.5).await.unwrap()
}

fn float(v: &Value) -> f32 {
    match v {
        Value::Float(f) => *f,
        other => panic!("not a float: {other:?}"),
    }
}

#[tokio::test]
async fn adapter_publishes_sunspec_and_executes_set_points() {
    let sim = noon_sim().await;
    // W of model 103 also mapped explicitly, in kW, to show both paths read the same register.
    let extra = format!(
        "logical_device = \"PV1\"\npoll_period_ms = 100\ntimeout_ms = 500\nsunspec = true\n\
         [[register]]\npoint = \"GGIO1.AnIn1.mag.f\"\naddress = {}\ntype = \"i16\"\nscale = 0.001\nunit = \"kW\"\n",
        INVERTER_ADDRESS + 12
    );
    let (port, mut data) = start_adapter(device("pv", sim.address, &extra));

    let w = wait_datum(&mut data, "PV1/MMXU1.TotW.mag.f", STEP, |d| d.quality.is_good()).await;
    let expected_w = f64::from(sim.snapshot().register(INVERTER_ADDRESS + 12).unwrap());
    assert!((f64::from(float(&w.value)) - expected_w).abs() <= 5.0, "{w:?} vs {expected_w}");
    let hz = wait_datum(&mut data, "PV1/MMXU1.Hz.mag.f", STEP, |_| true).await;
    assert_eq!(float(&hz.value), 50.0, "5000 with Hz_SF -2");
    let v = wait_datum(&mut data, "PV1/MMXU1.PhV.phsA.cVal.mag.f", STEP, |_| true).await;
    assert_eq!(float(&v.value), 230.0, "2300 with V_SF -1");
    let kw = wait_datum(&mut data, "PV1/GGIO1.AnIn1.mag.f", STEP, |_| true).await;
    assert!((float(&kw.value) - 10.0).abs() < 0.01, "{kw:?}");
    let conn = wait_datum(&mut data, "PV1/CSWI1.Pos", STEP, |_| true).await;
    assert_eq!(conn.value, Value::Double(DoublePoint::On));
    let rating = wait_datum(&mut data, "PV1/DRAT1.WRtg.mag.f", STEP, |_| true).await;
    assert_eq!(float(&rating.value), 10_000.0);

    // Select reserves nothing on a Modbus device; execute writes and reads back.
    let r = operate(&port, 1, "PV1/DRCC1.WMaxLimPct", CommandAction::Select, CommandValue::SetpointFloat(40.0)).await;
    assert_eq!(r.iter().map(|r| r.outcome.clone()).collect::<Vec<_>>(), [CommandOutcome::Confirmed]);
    assert_eq!(sim.snapshot().register(CONTROLS_ADDRESS + 3), Some(1000), "select must not write");
    let r = operate(&port, 2, "PV1/DRCC1.WMaxLimPct", CommandAction::Execute, CommandValue::SetpointFloat(40.0)).await;
    assert_eq!(r.iter().map(|r| r.outcome.clone()).collect::<Vec<_>>(), [CommandOutcome::Confirmed, CommandOutcome::Terminated]);
    assert_eq!(sim.snapshot().register(CONTROLS_ADDRESS + 3), Some(400), "40 % with WMaxLimPct_SF -1");
    let r = operate(&port, 3, "PV1/DRCC1.WMaxLimEna", CommandAction::Execute, CommandValue::Single(true)).await;
    assert_eq!(r.last().unwrap().outcome, CommandOutcome::Terminated);
    let limited = wait_datum(&mut data, "PV1/MMXU1.TotW.mag.f", STEP, |d| float(&d.value) < 5_000.0).await;
    assert_eq!(float(&limited.value), 4_000.0);
    wait_datum(&mut data, "PV1/DRCC1.WMaxLimPct", STEP, |d| d.value == Value::Float(40.0)).await;

    // The device refuses 150 %: its exception reaches the issuer, nothing changes.
    let r = operate(&port, 4, "PV1/DRCC1.WMaxLimPct", CommandAction::Execute, CommandValue::SetpointFloat(150.0)).await;
    match &r[..] {
        [res] => match &res.outcome {
            CommandOutcome::Refused { by, reason } => assert!(by == "device" && reason.contains("illegal data value"), "{reason}"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.snapshot().register(CONTROLS_ADDRESS + 3), Some(400));
    // A value of the wrong kind is refused at the edge without touching the device.
    let r = operate(&port, 5, "PV1/CSWI1.Pos", CommandAction::Execute, CommandValue::SetpointFloat(0.0)).await;
    assert!(matches!(&r[0].outcome, CommandOutcome::Refused { by, .. } if by == "edge"), "{r:?}");

    // Disconnect through CSWI1.Pos: power drops to zero, the position follows.
    let r = operate(&port, 6, "PV1/CSWI1.Pos", CommandAction::Execute, CommandValue::Double(DoublePoint::Off)).await;
    assert_eq!(r.last().unwrap().outcome, CommandOutcome::Terminated);
    wait_datum(&mut data, "PV1/CSWI1.Pos", STEP, |d| d.value == Value::Double(DoublePoint::Off)).await;
    wait_datum(&mut data, "PV1/MMXU1.TotW.mag.f", STEP, |d| float(&d.value) == 0.0).await;

    // The device vanishes: its points turn invalid (keeping the last value), commands are refused.
    drop(sim);
    let gone = wait_datum(&mut data, "PV1/MMXU1.TotW.mag.f", STEP, |d| !d.quality.is_good()).await;
    assert_eq!(gone.quality.validity(), Validity::Invalid);
    assert_eq!(float(&gone.value), 0.0);
    let r = operate(&port, 7, "PV1/DRCC1.WMaxLimEna", CommandAction::Execute, CommandValue::Single(false)).await;
    assert!(matches!(&r[0].outcome, CommandOutcome::Refused { .. }), "{r:?}");
}

/// Polls of a healthy device, measured alone and then beside a device that never answers and a
/// device whose port is closed: the gaps between its polls must not grow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_devices_do_not_delay_a_healthy_one() {
    let sim = noon_sim().await;
    let period = Duration::from_millis(50);
    let healthy =
        |name: &str| device(name, sim.address, "logical_device = \"PV1\"\npoll_period_ms = 50\ntimeout_ms = 300\nsunspec = true\n");

    let measure = |mut data: tokio::sync::mpsc::Receiver<gridtrust_adapter::Datum>| async move {
        wait_datum(&mut data, "PV1/MMXU1.TotW.mag.f", STEP, |_| true).await;
        let start = Instant::now();
        let mut last = start;
        let (mut polls, mut worst) = (0u32, Duration::ZERO);
        while start.elapsed() < Duration::from_secs(2) {
            wait_datum(&mut data, "PV1/MMXU1.TotW.mag.f", STEP, |_| true).await;
            worst = worst.max(last.elapsed());
            last = Instant::now();
            polls += 1;
        }
        (polls, worst)
    };

    let (_alone_port, alone_data) = start_adapter(healthy("alone"));
    let (alone_polls, alone_worst) = measure(alone_data).await;

    // A black hole: accepts connections and never answers.
    let blackhole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let blackhole_addr = blackhole.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = blackhole.accept().await {
            held.push(s);
        }
    });
    let closed = format!("127.0.0.1:{}", support::free_port()).parse().unwrap();
    let (_bh_port, mut bh_data) = start_adapter(device(
        "blackhole",
        blackhole_addr,
        "logical_device = \"BH\"\npoll_period_ms = 50\ntimeout_ms = 300\nsunspec = true\n",
    ));
    let (_cl_port, _cl_data) =
        start_adapter(device("closed", closed, "logical_device = \"CL\"\npoll_period_ms = 50\ntimeout_ms = 300\nsunspec = true\n"));
    let (_port, data) = start_adapter(healthy("beside-dead"));
    let (polls, worst) = measure(data).await;

    eprintln!(
        "healthy device, poll period {period:?}: alone {alone_polls} polls in 2 s (worst gap {alone_worst:?}); \
         beside a black hole and a closed port {polls} polls (worst gap {worst:?})"
    );
    assert!(polls * 10 >= alone_polls * 8, "polls dropped from {alone_polls} to {polls}");
    assert!(worst < Duration::from_millis(250), "a poll waited {worst:?} (black hole timeout 300 ms)");
    assert!(bh_data.try_recv().is_err(), "the black hole never answered, so it has no data");
}
