//! The whole pipeline (capture reader, link/IP/TCP decoding, reassembly, framing, learning,
//! scoring) on the shared captures with random bytes overwritten: it may refuse, it may not panic.
//! Random bytes alone rarely get past a magic number; mutated real captures reach the decoders.

use std::path::PathBuf;

use gridtrust_ids::capture::read_capture_prefix;
use gridtrust_ids::detect::score;
use gridtrust_ids::model::learn;
use gridtrust_ids::stream::events_of;
use proptest::prelude::*;

fn capture(rel: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/pcap").join(rel))
        .expect("shared test data is present")
}

fn pipeline(bytes: &[u8]) {
    let (packets, _) = read_capture_prefix(bytes);
    let (events, _) = events_of(&packets);
    let half = events.len() / 2;
    let model = learn(&events[..half]);
    let _ = score(model, &events);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_iec104_captures_never_panic(which in 0usize..3, edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..64), cut in any::<prop::sample::Index>()) {
        let name = ["IEC60870-5-104/090813_diverse.pcap", "IEC60870-5-104/JavaRMI_and_IEC_Misc.pcap", "IEC60870-5-104/TestDissectIec104.pcap"][which];
        let mut bytes = capture(name);
        for (at, value) in &edits {
            let i = at.index(bytes.len());
            bytes[i] = *value;
        }
        bytes.truncate(cut.index(bytes.len()) + 1);
        pipeline(&bytes);
    }

    #[test]
    fn mutated_modbus_capture_prefix_never_panics(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..64)) {
        let mut bytes = capture("ModbusTCP/ModbusTCP.pcap");
        bytes.truncate(64 * 1024);
        for (at, value) in &edits {
            let i = at.index(bytes.len());
            bytes[i] = *value;
        }
        pipeline(&bytes);
    }
}
