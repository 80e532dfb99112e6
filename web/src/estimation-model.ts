// What the estimation view derives from GET /api/estimation, kept apart from the view so it can
// be tested without a browser: the order of the measurement table, bus names in its quantities,
// the words for an attack cost, the origin counts of the summary and the points outside their
// learned profile.
import type { AttackCost, BusEstimate, EstimatedMeasurement, EstimationReport, PointProfile } from './api';

/** A profile score above this raises a `profile` alarm at the hub (docs/state-estimation.md). */
export const PROFILE_ALARM_SCORE = 6;

/** Bad data first (the hub lists it worst first), then the largest normalised residual; a
 * critical measurement, which has no residual, last. Stable for equal keys. */
export function byWorstResidual(ms: EstimatedMeasurement[]): EstimatedMeasurement[] {
  const key = (m: EstimatedMeasurement) => m.normalised_residual ?? -1;
  return ms
    .map((m, i) => ({ m, i }))
    .sort((a, b) => Number(b.m.bad_data) - Number(a.m.bad_data) || key(b.m) - key(a.m) || a.i - b.i)
    .map(({ m }) => m);
}

/** How many measurements of each origin the estimate used. */
export function originCounts(report: EstimationReport): Record<EstimatedMeasurement['origin'], number> {
  const counts = { measured: 0, pseudo: 0, 'zero-injection': 0 };
  for (const m of report.measurements) counts[m.origin] += 1;
  return counts;
}

/** The security index in words: how many unprotected measurements an undetectable change costs. */
export function attackCostText(cost: AttackCost | null): string {
  if (!cost) return 'reference';
  switch (cost.kind) {
    case 'impossible':
      return 'impossible';
    case 'exact':
      return String(cost.measurements);
    case 'at-most':
      return `≤ ${cost.measurements}`;
    case 'not-computed':
      return 'not computed';
  }
}

/** Points whose latest value lies outside their learned profile, worst first (warming up ones,
 * without a score, are never outside). */
export function outsideProfile(profiles: PointProfile[]): PointProfile[] {
  return profiles.filter((p) => p.score !== null && p.score > PROFILE_ALARM_SCORE).sort((a, b) => (b.score ?? 0) - (a.score ?? 0));
}

/** The hub names buses in a quantity by their mRID (`P flow into <branch> at <bus>`): the
 * operator reads the bus's name where the model gives one. */
export function namedQuantity(quantity: string, buses: BusEstimate[]): string {
  return buses.reduce((text, b) => (b.name ? text.split(b.bus).join(b.name) : text), quantity);
}
