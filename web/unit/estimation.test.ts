// The estimation view's derived figures: the measurement table's order (bad data, then the
// largest residual, critical ones last), bus names in quantities, the origin counts, the
// security index in words and the points outside their learned profile.
import { describe, expect, it } from 'vitest';
import type { BusEstimate, EstimatedMeasurement, EstimationReport, PointProfile } from '../src/api';
import { attackCostText, byWorstResidual, namedQuantity, originCounts, outsideProfile, PROFILE_ALARM_SCORE } from '../src/estimation-model';

function m(quantity: string, over: Partial<EstimatedMeasurement>): EstimatedMeasurement {
  return { point: null, origin: 'measured', quantity, value_pu: 1, sigma_pu: 0.01, estimate_pu: 1, normalised_residual: 0, bad_data: false, protected: false, ...over };
}

function profile(point: string, score: number | null): PointProfile {
  return { point, bucket: 'weekday-10', samples: 100, median: 1, mad: 0.1, last: 1, score };
}

describe('estimation view', () => {
  it('puts bad data first, then the largest residual, and critical measurements last', () => {
    const order = byWorstResidual([
      m('critical', { normalised_residual: null }),
      m('small', { normalised_residual: 0.4 }),
      m('removed second', { normalised_residual: 5.1, bad_data: true, estimate_pu: null }),
      m('large', { normalised_residual: 2.5 }),
      m('removed first', { normalised_residual: 40.7, bad_data: true, estimate_pu: null }),
    ]).map((x) => x.quantity);
    expect(order).toEqual(['removed first', 'removed second', 'large', 'small', 'critical']);
  });

  it('keeps the hub order for equal residuals', () => {
    const order = byWorstResidual([m('a', {}), m('b', {}), m('c', {})]).map((x) => x.quantity);
    expect(order).toEqual(['a', 'b', 'c']);
  });

  it('counts measurements by origin', () => {
    const report = {
      measurements: [m('p', {}), m('q', {}), m('pseudo', { origin: 'pseudo' }), m('zero', { origin: 'zero-injection' })],
    } as EstimationReport;
    expect(originCounts(report)).toEqual({ measured: 2, pseudo: 1, 'zero-injection': 1 });
  });

  it('says what an undetectable change costs', () => {
    expect(attackCostText({ kind: 'exact', measurements: 16 })).toBe('16');
    expect(attackCostText({ kind: 'at-most', measurements: 9 })).toBe('≤ 9');
    expect(attackCostText({ kind: 'impossible' })).toBe('impossible');
    expect(attackCostText({ kind: 'not-computed' })).toBe('not computed');
    expect(attackCostText(null)).toBe('reference');
  });

  it('lists only points scored above the alarm score, worst first, never those still learning', () => {
    const outside = outsideProfile([profile('ok', 2), profile('learning', null), profile('bad', PROFILE_ALARM_SCORE + 3), profile('edge', PROFILE_ALARM_SCORE), profile('worse', 30)]);
    expect(outside.map((p) => p.point)).toEqual(['worse', 'bad']);
  });

  it('names buses in a quantity where the model names them, and keeps the mRID otherwise', () => {
    const bus = (id: string, name: string | null): BusEstimate => ({ bus: id, name, v_pu: 1, angle_deg: 0, angle_attack: null, magnitude_attack: { kind: 'impossible' } });
    const buses = [bus('b-1', 'SS11 20kV'), bus('b-2', null)];
    expect(namedQuantity('P flow into line-7 at b-1', buses)).toBe('P flow into line-7 at SS11 20kV');
    expect(namedQuantity('|V| at b-2', buses)).toBe('|V| at b-2');
  });
});
