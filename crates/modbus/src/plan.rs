//! Read planning: many small register spans become few requests. Adjacent or near spans of the
//! same table merge into one read of at most 125 registers (2000 bits), as long as the hole
//! between them is no wider than the allowed gap; a device that refuses reads across unmapped
//! registers gets `max_gap = 0`.

use crate::frame::Table;

/// Registers (or bits) one datum needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub table: Table,
    pub address: u16,
    pub count: u16,
}

impl Span {
    fn end(&self) -> u32 {
        u32::from(self.address) + u32::from(self.count)
    }
}

/// One request of the plan and the spans it serves, by their index in the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadBlock {
    pub table: Table,
    pub address: u16,
    pub count: u16,
    pub spans: Vec<usize>,
}

impl ReadBlock {
    /// The slice of this block's answer that holds `span`, or `None` when the answer is short or
    /// the span is not inside the block.
    pub fn slice<'a, T>(&self, answer: &'a [T], span: &Span) -> Option<&'a [T]> {
        let from = usize::from(span.address.checked_sub(self.address)?);
        answer.get(from..from + usize::from(span.count))
    }
}

/// Groups `spans` into as few reads as the limits allow. Spans longer than one read, empty spans
/// and spans running past address 65535 cannot be read and are left out (configuration
/// validation reports them first).
pub fn plan_reads(spans: &[Span], max_gap: u16) -> Vec<ReadBlock> {
    let mut order: Vec<(usize, Span)> =
        spans.iter().copied().enumerate().filter(|(_, s)| s.count > 0 && s.count <= s.table.max_read() && s.end() <= 0x1_0000).collect();
    order.sort_by_key(|&(_, s)| (s.table, s.address, s.count));
    let mut blocks: Vec<ReadBlock> = Vec::new();
    for (i, span) in order {
        if let Some(block) = blocks.last_mut() {
            let block_end = u32::from(block.address) + u32::from(block.count);
            let merged_end = block_end.max(span.end());
            let fits = merged_end - u32::from(block.address) <= u32::from(span.table.max_read());
            if block.table == span.table && u32::from(span.address) <= block_end + u32::from(max_gap) && fits {
                block.count = u16::try_from(merged_end - u32::from(block.address)).unwrap_or(u16::MAX);
                block.spans.push(i);
                continue;
            }
        }
        blocks.push(ReadBlock { table: span.table, address: span.address, count: span.count, spans: vec![i] });
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hr(address: u16, count: u16) -> Span {
        Span { table: Table::Holding, address, count }
    }

    #[test]
    fn adjacent_and_near_spans_merge_gaps_split() {
        let spans = [hr(10, 2), hr(0, 1), hr(1, 1), hr(14, 1), hr(40, 2), Span { table: Table::Input, address: 1, count: 1 }];
        let plan = plan_reads(&spans, 3);
        assert_eq!(plan.len(), 4, "{plan:?}");
        assert_eq!((plan[0].address, plan[0].count, &plan[0].spans), (0, 2, &vec![1, 2]));
        assert_eq!((plan[1].address, plan[1].count, &plan[1].spans), (10, 5, &vec![0, 3]));
        assert_eq!((plan[2].address, plan[2].count), (40, 2));
        assert_eq!(plan[3].table, Table::Input);
        // With no gap allowed 10..12 and 14 stay apart.
        assert_eq!(plan_reads(&spans, 0).len(), 5);
    }

    #[test]
    fn a_block_never_exceeds_125_registers() {
        let spans: Vec<Span> = (0..300).map(|a| hr(a, 1)).collect();
        let plan = plan_reads(&spans, 0);
        assert_eq!(plan.iter().map(|b| b.count).collect::<Vec<_>>(), vec![125, 125, 50]);
        let plan = plan_reads(&[hr(0, 100), hr(100, 50)], 0);
        assert_eq!(plan.len(), 2);
    }

    #[test]
    fn unreadable_spans_are_left_out() {
        assert!(plan_reads(&[hr(0, 0), hr(0, 126), hr(65535, 2)], 10).is_empty());
        assert_eq!(plan_reads(&[hr(65535, 1)], 10).len(), 1);
    }

    proptest! {
        #[test]
        fn every_block_covers_its_spans_within_limits(raw in proptest::collection::vec((0u16..2000, 1u16..10, any::<bool>()), 0..80), gap in 0u16..20) {
            let spans: Vec<Span> = raw.iter().map(|&(a, c, bits)| Span { table: if bits { Table::Coil } else { Table::Holding }, address: a, count: c }).collect();
            let plan = plan_reads(&spans, gap);
            let mut served: Vec<usize> = plan.iter().flat_map(|b| b.spans.clone()).collect();
            served.sort_unstable();
            prop_assert_eq!(served, (0..spans.len()).collect::<Vec<_>>());
            for b in &plan {
                prop_assert!(b.count >= 1 && b.count <= b.table.max_read());
                for &i in &b.spans {
                    let s = spans[i];
                    prop_assert_eq!(s.table, b.table);
                    prop_assert!(s.address >= b.address && s.end() <= u32::from(b.address) + u32::from(b.count));
                }
            }
        }
    }
}
