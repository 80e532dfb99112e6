//! Golden bytes for the canonical record encoding, version 1. If one of these tests fails the
//! encoding changed: that breaks every signature ever made, so bump the version instead.

use gridtrust_model::{DecodeError, DoublePoint, PointId, Quality, Record, TimeQuality, Timestamp, Validity, Value};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn breaker_record() -> Record {
    Record {
        seq: 0x0102_0304_0506_0708,
        point: PointId::new("LD0/XCBR1.Pos").unwrap(),
        value: Value::Double(DoublePoint::On),
        quality: Quality::GOOD.with_validity(Validity::Questionable).with_old_data(true),
        source_time: Some((Timestamp(1_700_000_000_123_000_000), TimeQuality { substituted: true, ..TimeQuality::GOOD })),
        received_at: Timestamp(1_700_000_000_124_000_000),
    }
}

#[test]
fn double_point_record_has_the_documented_bytes() {
    let bytes = breaker_record().encode_canonical();
    assert_eq!(
        hex(&bytes),
        concat!(
            "01",                         // version
            "0102030405060708",           // seq
            "000d",                       // point id length 13
            "4c44302f58434252312e506f73", // "LD0/XCBR1.Pos"
            "0202",                       // double, on
            "0083",                       // questionable + old data
            "01",                         // source time present
            "17979cfe3d7ed4c0",           // 1_700_000_000_123_000_000 ns
            "041f",                       // substituted, accuracy unspecified
            "17979cfe3d8e1700",           // received at 1_700_000_000_124_000_000 ns
        )
    );
    assert_eq!(Record::decode_canonical(&bytes).unwrap(), breaker_record());
}

#[test]
fn float_record_without_source_time_has_the_documented_bytes() {
    let r = Record {
        seq: 7,
        point: PointId::new("LD0/MMXU1.TotW.mag.f").unwrap(),
        value: Value::Float(1.5),
        quality: Quality::GOOD,
        source_time: None,
        received_at: Timestamp(0),
    };
    let bytes = r.encode_canonical();
    assert_eq!(hex(&bytes), "01000000000000000700144c44302f4d4d5855312e546f74572e6d61672e66073fc000000000000000000000000000");
    assert_eq!(Record::decode_canonical(&bytes).unwrap(), r);
}

#[test]
fn every_value_kind_round_trips() {
    let values = [
        Value::Single(true),
        Value::Double(DoublePoint::Indeterminate),
        Value::Step { position: -64, transient: true },
        Value::Bitstring(0xdead_beef),
        Value::Normalized(-32768),
        Value::Scaled(-5),
        Value::Float(f32::NEG_INFINITY),
        Value::Counter { value: i32::MIN, sequence: 31, carry: true, adjusted: false },
    ];
    for value in values {
        let r = Record { value, ..breaker_record() };
        assert_eq!(Record::decode_canonical(&r.encode_canonical()).unwrap(), r, "{value:?}");
    }
}

#[test]
fn nan_has_one_encoding() {
    let a = Record { value: Value::Float(f32::from_bits(0x7fc0_0001)), ..breaker_record() };
    let b = Record { value: Value::Float(f32::NAN), ..breaker_record() };
    assert_eq!(a.encode_canonical(), b.encode_canonical());
    let mut bytes = b.encode_canonical();
    let at = 1 + 8 + 2 + 13 + 1 + 3; // last byte of the float
    bytes[at] = 1;
    assert!(matches!(Record::decode_canonical(&bytes), Err(DecodeError::BadField { field: "float", .. })));
}

#[test]
fn non_canonical_input_is_refused_with_the_field_named() {
    let good = breaker_record().encode_canonical();
    let mut v2 = good.clone();
    v2[0] = 2;
    assert_eq!(Record::decode_canonical(&v2), Err(DecodeError::UnsupportedVersion(2)));
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(Record::decode_canonical(&trailing), Err(DecodeError::TrailingBytes(1)));
    let mut bad_double = good.clone();
    bad_double[25] = 4;
    assert!(matches!(Record::decode_canonical(&bad_double), Err(DecodeError::BadField { field: "double value", offset: 25, .. })));
    for cut in 0..good.len() {
        assert!(matches!(Record::decode_canonical(&good[..cut]), Err(DecodeError::Truncated { .. })), "cut at {cut}");
    }
}
