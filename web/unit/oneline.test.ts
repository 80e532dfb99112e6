// The one-line view's geometry and labels: extent with margin, symbols at the middle of
// polylines, values always with their unit, and a key that changes with switch positions.
import { describe, expect, it } from 'vitest';
import type { OneLine, OneLineEquipment, PointInfo, Value } from '../src/api';
import { anchor, extent, positionsKey, shownValues, valueLabel } from '../src/oneline-geometry';

function equipment(over: Partial<OneLineEquipment>): OneLineEquipment {
  return { id: 'e', name: 'e', kind: 'Other', bay: null, nodes: [], points: [], rotation_deg: null, connectors: [], point_ids: [], switch: null, energised: true, ...over };
}

function value(point: string, v: number | string, seq = 1): Value {
  return {
    point,
    value: v,
    value_text: String(v),
    quality: { good: true, validity: 'good', flags: [] },
    source_time: null,
    received_at: '2026-01-01T00:00:00Z',
    edge: 'edge-1',
    seq,
    batch_seq: null,
    trust: { status: 'verified', reason: null },
  };
}

function info(id: string, unit: string | null, kind = 'analog'): PointInfo {
  return { id, unit, kind, description: null, bay: null, equipment: null, cim: null, operable: false, command_kind: null };
}

describe('one-line geometry', () => {
  it('spans every node, equipment and connector point with a margin', () => {
    const d: OneLine = {
      layout: 'dl',
      diagram_name: null,
      nodes: [{ id: 'n', name: null, nominal_kv: 20, busbar: true, points: [{ x: 0, y: 0 }, { x: 100, y: 0 }], energised: true }],
      equipment: [equipment({ points: [{ x: 50, y: 50 }], connectors: [[{ x: 50, y: 50 }, { x: 50, y: -20 }]] })],
    };
    const box = extent(d);
    expect(box.x).toBeLessThan(0);
    expect(box.y).toBeLessThan(-20);
    expect(box.x + box.width).toBeGreaterThan(100);
    expect(box.y + box.height).toBeGreaterThan(50);
  });

  it('puts a symbol at the middle of a polyline by length', () => {
    expect(anchor(equipment({ points: [{ x: 0, y: 0 }, { x: 0, y: 10 }, { x: 30, y: 10 }] }))).toEqual({ x: 10, y: 10 });
    expect(anchor(equipment({ points: [{ x: 3, y: 4 }] }))).toEqual({ x: 3, y: 4 });
    expect(anchor(equipment({ points: [] }))).toBeNull();
  });

  it('labels values with their unit and shows only analogue values', () => {
    expect(valueLabel(value('p', 12.3456), info('p', 'MW'))).toBe('12.35 MW');
    expect(valueLabel(value('p', 'on'), info('p', null, 'status'))).toBe('on');
    const e = equipment({ point_ids: ['p', 's', 'none'] });
    const points = new Map([['p', info('p', 'kV')], ['s', info('s', null, 'status')], ['none', info('none', 'A')]]);
    const values = new Map([['p', value('p', 20.1)], ['s', value('s', 'on')]]);
    expect(shownValues(e, points, values).map((x) => x.id)).toEqual(['p']);
  });

  it('changes its key when a switch position value changes', () => {
    const d: OneLine = {
      layout: 'automatic',
      diagram_name: null,
      nodes: [],
      equipment: [equipment({ kind: 'Breaker', switch: { position_point: 'q', command_point: null, state: 'closed', state_from: 'live' } })],
    };
    const before = positionsKey(d, new Map([['q', value('q', 'on', 1)]]));
    expect(positionsKey(d, new Map([['q', value('q', 'on', 1)], ['other', value('other', 5)]]))).toBe(before);
    expect(positionsKey(d, new Map([['q', value('q', 'off', 2)]]))).not.toBe(before);
  });
});
