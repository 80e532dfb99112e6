// One bay: a live table of its points (value, quality, trust, time) and a trend of one of them.
import { useEffect, useMemo, useState } from 'preact/hooks';
import type { Bay, PointInfo, Value } from './api';
import { RECENT_FAILURE_MS, type RecentFailure } from './live';
import { QualityBadge, TrustBadge } from './badges';
import { Trend } from './trend';

function time(iso: string | null): string {
  return iso ? new Date(iso).toLocaleTimeString(undefined, { hour12: false }) : '—';
}

const NUMBER = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });

/** Numbers rounded for reading (the evidence view shows the exact signed value); states as the hub names them. */
function shownValue(v: Value): string {
  return typeof v.value === 'number' && !Number.isInteger(v.value) ? NUMBER.format(v.value) : v.value_text;
}

/** Says that a point now verified again failed verification a moment ago, and why. */
function RecentFailureNote({ failure }: { failure: RecentFailure | undefined }) {
  if (!failure || Date.now() - failure.at > RECENT_FAILURE_MS) return null;
  return (
    <div class="recent-failure" data-testid="recent-failure">
      failed at {new Date(failure.at).toLocaleTimeString(undefined, { hour12: false })}
      {failure.reason && `: ${failure.reason}`}
    </div>
  );
}

/** A point can be trended when its values are numbers (analogues, counters, step positions). */
function trendable(v: Value | undefined): boolean {
  return v !== undefined && typeof v.value === 'number';
}

export function BayView({
  bay,
  withTrend,
  points,
  values,
  recentFailures,
  onOperate,
  onEvidence,
}: {
  bay: Bay;
  /** False in the station overview, where only the tables are shown. */
  withTrend: boolean;
  points: Map<string, PointInfo>;
  values: Map<string, Value>;
  recentFailures: Map<string, RecentFailure>;
  onOperate: (p: PointInfo) => void;
  onEvidence: (point: string) => void;
}) {
  const ids = useMemo(() => bay.equipment.flatMap((e) => e.points), [bay]);
  const [trendPoint, setTrendPoint] = useState<string | null>(null);
  useEffect(() => setTrendPoint(null), [bay.id]);
  const shown = trendPoint ?? ids.find((id) => trendable(values.get(id)) || points.get(id)?.kind === 'analog') ?? null;
  const equipmentName = new Map(bay.equipment.flatMap((e) => e.points.map((p) => [p, e.name] as const)));

  return (
    <section class="bay" data-testid="bay-view">
      <h2>{bay.name}</h2>
      <table class="values">
        <thead>
          <tr>
            <th>Equipment</th>
            <th>Point</th>
            <th class="num">Value</th>
            <th>Quality</th>
            <th>Trust</th>
            <th>Source time</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {ids.map((id) => {
            const p = points.get(id);
            const v = values.get(id);
            return (
              <tr key={id} data-testid="value-row" data-point={id} class={v?.trust.status === 'failed' ? 'row-failed' : ''}>
                <td>{equipmentName.get(id)}</td>
                <td title={id}>
                  {p?.description ?? id}
                  <div class="pid">{id}</div>
                </td>
                <td class="num" data-testid="value" data-seq={v?.seq} title={v?.value_text}>
                  {v ? shownValue(v) : '—'} {p?.unit ?? ''}
                </td>
                <td>{v && <QualityBadge quality={v.quality} />}</td>
                <td>
                  {v && <TrustBadge trust={v.trust} />}
                  {v && v.trust.status !== 'failed' && <RecentFailureNote failure={recentFailures.get(id)} />}
                </td>
                <td>{time(v?.source_time ?? v?.received_at ?? null)}</td>
                <td class="actions">
                  {withTrend && trendable(v) && (
                    <button onClick={() => setTrendPoint(id)} class={id === shown ? 'active' : ''}>
                      Trend
                    </button>
                  )}
                  {v && (
                    <button onClick={() => onEvidence(id)} data-testid="evidence-button">
                      Evidence
                    </button>
                  )}
                  {p?.operable && (
                    <button onClick={() => onOperate(p)} data-testid="operate-button">
                      Operate…
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {withTrend && shown && <Trend key={shown} point={shown} unit={points.get(shown)?.unit ?? null} label={points.get(shown)?.description ?? shown} />}
    </section>
  );
}
