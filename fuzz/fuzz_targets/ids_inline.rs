//! Bytes as a role reads and writes them, in chunks of any size, into the inline observer of
//! an IEC 104 or Modbus connection and through a monitor that learns from the first half of the
//! time and then checks. Input: repeated records of [selector, len, bytes...]; selector bit 0
//! picks the direction, bit 1 the protocol (fixed per run by the first record).
#![no_main]

use gridtrust_ids::event::Protocol;
use gridtrust_ids::inline::{AlertQueue, LinkObserver, Monitor};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let protocol = if data.first().is_some_and(|s| s & 2 != 0) { Protocol::Modbus } else { Protocol::Iec104 };
    let Some(mut observer) =
        LinkObserver::new(protocol, "127.0.0.1:2404".parse().unwrap(), "127.0.0.1:50000".parse().unwrap(), true)
    else {
        return;
    };
    let records = data.len() as i64;
    let mut monitor = Monitor::learning(records * 500);
    let mut queue = AlertQueue::default();
    let mut events = vec![observer.opened(0)];
    let mut rest = data;
    let mut time = 0;
    while let [sel, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        time += 1000;
        if sel & 1 == 0 {
            observer.received(time, bytes, &mut events);
        } else {
            observer.sent(time, bytes, &mut events);
        }
        for e in events.drain(..) {
            let _ = monitor.handle(&e);
        }
        queue.take_from(&mut monitor);
        rest = next;
    }
    let _ = monitor.handle(&observer.closed(time + 1));
    let _ = queue.drain();
});
