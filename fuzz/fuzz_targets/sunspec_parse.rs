//! SunSpec: the model parser, the discovery state machine and the register type decoder never
//! panic on arbitrary register contents, and discovery always ends.
#![no_main]

use gridtrust_modbus::registers::{DataType, Order, decode};
use gridtrust_modbus::sunspec::{Discovery, parse_model};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let regs: Vec<u16> = data.chunks_exact(2).map(|w| u16::from_be_bytes([w[0], w[1]])).collect();
    let Some((&id, rest)) = regs.split_first() else { return };
    for model in [id, 1, 103, 113, 120, 123, 124, 203] {
        if let Ok(m) = parse_model(model, rest) {
            assert_eq!(m.readings.len(), m.def.fields.len());
        }
    }
    let mut discovery = Discovery::new();
    let mut answers = rest.chunks(4);
    let mut steps = 0;
    while discovery.next_read().is_some() {
        match answers.next() {
            Some(a) => discovery.on_registers(a),
            None => discovery.on_failure("no more input"),
        }
        steps += 1;
        assert!(steps < 1000, "discovery must end");
    }
    for ty in [DataType::U16, DataType::I16, DataType::U32, DataType::I32, DataType::F32, DataType::U64, DataType::String, DataType::Bit] {
        for order in [Order::Abcd, Order::Dcba, Order::Cdab, Order::Badc] {
            let _ = decode(rest, ty, order, (id & 0x1f) as u8);
        }
    }
});
