//! Every C37.118 frame in the reference captures (`../shared/testdata/pcap/C37.118/`, ITI
//! ICS-Security-Tools, CC-BY-4.0) decodes with our codec: the envelope and CRC of every frame,
//! configuration and command frames fully, and every data frame with the configuration seen
//! earlier in the same capture. The expected counts, names and flags below were read with
//! Wireshark's synphasor dissector, an implementation we did not write.

mod support;

use std::collections::HashMap;
use std::path::PathBuf;

use gridtrust_c37118::command::{Command, CommandFrame};
use gridtrust_c37118::config::{ConfigFrame, ConfigKind};
use gridtrust_c37118::data::{DataError, DataFrame};
use gridtrust_c37118::frame::{FrameType, split_frame};
use support::{c37118_frames, read_payloads};

fn capture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/pcap/C37.118")
}

/// What one capture holds, as Wireshark reads it.
struct Expected {
    file: &'static str,
    data: usize,
    configs: usize,
    commands: usize,
    /// (station name, PMU idcode, phasors, analogs, digital words, nominal Hz) of the last CFG-2.
    stations: &'static [(&'static str, u16, usize, usize, usize, u8)],
    /// Data frames whose STAT has the "PMU sync error" bit.
    sync_lost: usize,
    /// Lowest and highest frequency of the first PMU over all data frames (Wireshark's figures).
    frequency: (f32, f32),
}

const CAPTURES: &[Expected] = &[
    Expected {
        file: "C37.118_1PMU_TCP.pcap",
        data: 252,
        configs: 1,
        commands: 3,
        stations: &[("Blue PMU", 241, 4, 0, 0, 50)],
        sync_lost: 0,
        frequency: (50.0, 50.0),
    },
    Expected {
        file: "C37.118_1PMU_UDP.pcap",
        data: 356,
        configs: 1,
        commands: 4,
        stations: &[("PMU1", 61, 3, 0, 1, 50)],
        sync_lost: 0,
        frequency: (50.0, 50.001),
    },
    Expected {
        file: "C37.118_2PMUsInSync_TCP.pcap",
        data: 3002,
        configs: 2,
        commands: 6,
        // Two streams (IDCODE 241 and 60); the map keeps the last configuration per stream.
        stations: &[("Blue PMU", 241, 4, 0, 0, 50), ("PMU1", 61, 3, 0, 1, 50)],
        sync_lost: 0,
        frequency: (50.0, 50.001),
    },
    Expected {
        file: "C37.118_4in1PMU_TCP.pcap",
        data: 1342,
        configs: 3,
        commands: 8,
        stations: &[("PMU1", 61, 3, 0, 1, 50), ("PMU2", 62, 14, 8, 1, 50), ("PMU3", 63, 14, 4, 1, 50), ("PMU4", 64, 14, 0, 1, 50)],
        sync_lost: 0,
        frequency: (50.0, 50.001),
    },
    Expected {
        file: "C37118/c37118_1100_unclean.pcap",
        data: 422,
        configs: 1,
        commands: 3,
        stations: &[("Reporting1", 1, 10, 0, 3, 60)],
        sync_lost: 422,
        frequency: (59.6101, 60.5444),
    },
    Expected {
        file: "C37118/c37_1100_clean_tcp.pcap",
        data: 422,
        configs: 1,
        commands: 3,
        stations: &[("Reporting1", 1, 10, 0, 3, 60)],
        sync_lost: 422,
        frequency: (59.6101, 60.5444),
    },
    Expected {
        file: "C37118/c37_1100_fullclean.pcap",
        data: 422,
        configs: 1,
        commands: 3,
        stations: &[("Reporting1", 1, 10, 0, 3, 60)],
        sync_lost: 422,
        frequency: (59.6101, 60.5444),
    },
    Expected {
        file: "C37118/c37_pmu_clean.pcap",
        data: 4704,
        configs: 3,
        commands: 12,
        stations: &[("Reporting1", 1, 10, 0, 3, 60)],
        sync_lost: 4704,
        frequency: (60.0, 60.0025),
    },
    Expected {
        file: "C37118/c37_pmu_unclean.pcap",
        data: 4704,
        configs: 3,
        commands: 12,
        stations: &[("Reporting1", 1, 10, 0, 3, 60)],
        sync_lost: 4704,
        frequency: (60.0, 60.0025),
    },
];

#[derive(Default, Debug)]
struct Tally {
    data: usize,
    configs: usize,
    commands: usize,
    sync_lost: usize,
    data_errors: usize,
    freq_min: f32,
    freq_max: f32,
    phasor_magnitudes: usize,
    command_kinds: Vec<Command>,
    last_config: HashMap<u16, ConfigFrame>,
}

/// Cuts the capture into frames (all CRC-correct), then decodes them in capture order.
fn decode_capture(name: &str) -> Tally {
    let pcap = std::fs::read(capture_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let payloads = read_payloads(&pcap);
    let pdus = c37118_frames(name, &payloads);
    let mut t = Tally { freq_min: f32::MAX, freq_max: f32::MIN, ..Default::default() };
    for (frame_no, bytes) in &pdus {
        let (raw, _) = split_frame(bytes).unwrap();
        let at = format!("{name} frame {frame_no}");
        match raw.header.frame_type {
            FrameType::Config1 | FrameType::Config2 | FrameType::Config3 => {
                let c = ConfigFrame::decode(&raw).unwrap_or_else(|e| panic!("{at}: {e}"));
                assert_eq!(c.kind, ConfigKind::Cfg2, "{at}");
                // Re-encoding gives back the same bytes: every field was read, none invented.
                let mut again = Vec::new();
                c.encode(&mut again).unwrap();
                assert_eq!(&again[..], &bytes[..], "{at}: CFG-2 does not round-trip");
                t.configs += 1;
                t.last_config.insert(c.idcode, c);
            }
            FrameType::Command => {
                let c = CommandFrame::decode(&raw).unwrap_or_else(|e| panic!("{at}: {e}"));
                t.command_kinds.push(c.command);
                t.commands += 1;
            }
            FrameType::Data => {
                let config = t.last_config.get(&raw.header.idcode).unwrap_or_else(|| panic!("{at}: data before configuration"));
                let d = DataFrame::decode(&raw, config).unwrap_or_else(|e| panic!("{at}: {e}"));
                let first = &d.stations[0];
                t.freq_min = t.freq_min.min(first.frequency);
                t.freq_max = t.freq_max.max(first.frequency);
                t.sync_lost += usize::from(d.stations.iter().any(|s| s.stat.sync_lost()));
                t.data_errors += usize::from(d.stations.iter().any(|s| s.stat.data_error() != DataError::Good));
                t.phasor_magnitudes += d.stations.iter().flat_map(|s| &s.phasors).filter(|p| p.magnitude.is_finite()).count();
                t.data += 1;
            }
            FrameType::Header => {}
        }
    }
    t
}

#[test]
fn every_frame_of_every_reference_capture_decodes() {
    for e in CAPTURES {
        let t = decode_capture(e.file);
        let f = e.file;
        assert_eq!((t.data, t.configs, t.commands), (e.data, e.configs, e.commands), "{f}: data/config/command frames");
        assert_eq!(t.sync_lost, e.sync_lost, "{f}: frames with PMU sync error");
        assert_eq!(t.data_errors, 0, "{f}: frames with a data error");
        assert!(t.phasor_magnitudes > 0, "{f}: no phasor decoded");
        assert!(
            (t.freq_min - e.frequency.0).abs() < 5e-4 && (t.freq_max - e.frequency.1).abs() < 5e-4,
            "{f}: first PMU's frequency ranged {}..{} Hz, Wireshark says {:?}",
            t.freq_min,
            t.freq_max,
            e.frequency
        );
        let mut stations: Vec<_> = t.last_config.values().flat_map(|c| &c.stations).collect();
        stations.sort_by_key(|s| s.idcode);
        let got: Vec<_> = stations
            .iter()
            .map(|s| (s.name.as_str(), s.idcode, s.phasors.len(), s.analogs.len(), s.digitals.len(), s.nominal_hz))
            .collect();
        let mut want = e.stations.to_vec();
        want.sort_by_key(|s| s.1);
        assert_eq!(got, want, "{f}: stations");
        assert!(t.command_kinds.contains(&Command::SendConfig2), "{f}: no CFG-2 request among {:?}", t.command_kinds);
        eprintln!("{f}: {} data, {} config, {} command frames, f = {:.4}..{:.4} Hz", t.data, t.configs, t.commands, t.freq_min, t.freq_max);
    }
}

#[test]
fn reference_values_match_what_wireshark_shows() {
    // C37.118_1PMU_TCP.pcap: "Blue PMU", 4 float rectangular phasors, TIME_BASE 2^24-1,
    // 50 frames/s, CFGCNT 89, first phasor named V1LPM.
    let t = decode_capture("C37.118_1PMU_TCP.pcap");
    let c = &t.last_config[&241];
    assert_eq!((c.time_base, c.data_rate), (16_777_215, 50));
    let s = &c.stations[0];
    assert_eq!(s.phasors[0].name, "V1LPM");
    assert_eq!(s.cfgcnt, 89);
    assert!(!s.format.polar && s.format.phasors_float && !s.format.frequency_float);
    // c37_1100: 60 Hz PMU with float frequency, 3 digital words, first digital bit IN1, first
    // phasor "IA P".
    let t = decode_capture("C37118/c37_1100_clean_tcp.pcap");
    let s = &t.last_config[&1].stations[0];
    assert_eq!(s.phasors[0].name, "IA P");
    assert_eq!(s.digitals[0].names[0], "IN1");
    assert_eq!((s.cfgcnt, t.last_config[&1].data_rate), (10, 60));
    assert!(s.format.frequency_float && s.format.polar);
}
