// State estimation: the hub's latest measurement check (docs/state-estimation.md) — the bad-data
// test, every measurement with its estimate and normalised residual (worst first), the estimated
// state per bus with its security index, and points outside their learned profile. Fetched again
// when an alarm arrives (bad-data and profile alarms come from these checks) and every few seconds.
import { useState } from 'preact/hooks';
import { api, ApiError, type Alarm, type EstimationReport, type PointInfo } from './api';
import { usePolled } from './polled';
import { attackCostText, byWorstResidual, namedQuantity, originCounts, outsideProfile, PROFILE_ALARM_SCORE } from './estimation-model';

const clock = (t: string) => new Date(t).toLocaleTimeString(undefined, { hour12: false });
const fixed = (x: number | null, digits: number) => (x === null ? '–' : x.toFixed(digits));

type State = { kind: 'loading' } | { kind: 'absent'; message: string } | { kind: 'error'; message: string } | { kind: 'report'; report: EstimationReport };

export function EstimationView({ alarms, points, onShowPoint }: { alarms: Alarm[]; points: Map<string, PointInfo>; onShowPoint: (point: string) => void }) {
  const [state, setState] = useState<State>({ kind: 'loading' });
  usePolled(
    () => api.estimation(),
    alarms,
    (report) => setState({ kind: 'report', report }),
    (e) => {
      // 404: the hub runs no checks ([estimation] absent) or none has run yet.
      if (e instanceof ApiError && e.status === 404) setState({ kind: 'absent', message: e.message });
      else setState({ kind: 'error', message: e instanceof ApiError ? e.message : String(e) });
    },
  );

  return (
    <section class="estimation" data-testid="estimation">
      <h2>State estimation</h2>
      {state.kind === 'loading' && <p>Loading the estimate…</p>}
      {state.kind === 'error' && (
        <p class="error" role="alert">
          {state.message}
        </p>
      )}
      {state.kind === 'absent' && (
        <p class="empty" data-testid="no-estimation">
          No estimate: the hub runs no measurement checks (no <code>[estimation]</code> in its configuration) or none has run yet. ({state.message})
        </p>
      )}
      {state.kind === 'report' && <Report report={state.report} points={points} onShowPoint={onShowPoint} />}
    </section>
  );
}

function Report({ report, points, onShowPoint }: { report: EstimationReport; points: Map<string, PointInfo>; onShowPoint: (point: string) => void }) {
  const counts = originCounts(report);
  const latest = new Map(report.profiles.map((p) => [p.point, p]));
  const outside = outsideProfile(report.profiles);
  const learning = report.profiles.filter((p) => p.score === null).length;
  const verdict = report.error ? 'no-estimate' : report.passed ? 'passed' : 'failed';
  return (
    <>
      <div class={`estimation-summary ${verdict}`} data-testid="estimation-summary" data-passed={String(report.passed)} data-verdict={verdict}>
        <div>
          <span class="label">Ran</span> {clock(report.ran_at)} ({report.duration_ms.toFixed(1)} ms)
        </div>
        <div data-testid="estimation-verdict">
          <span class="label">Bad-data test</span>{' '}
          {report.error ? (
            <strong>no estimate</strong>
          ) : (
            <>
              <strong>{report.passed ? 'passed' : 'failed'}</strong>: J(x) = {report.objective.toFixed(2)}
              {report.threshold === null ? ' (no redundancy: no threshold)' : ` against χ² threshold ${report.threshold.toFixed(1)}`}, {report.degrees_of_freedom} degrees of freedom
            </>
          )}
          {report.settling && <span class="warn"> — settling after a switch or tap change: bad data is not alarmed</span>}
        </div>
        <div>
          <span class="label">Measurements</span> {counts.measured} measured, {counts.pseudo} pseudo, {counts['zero-injection']} zero injection; {report.buses.length} buses estimated
        </div>
        {report.error && (
          <p class="error" data-testid="estimation-error">
            {report.error}
          </p>
        )}
      </div>

      <h4>Measurements, worst residual first</h4>
      <table class="values estimation-measurements" data-testid="estimation-measurements">
        <thead>
          <tr>
            <th>Point / quantity</th>
            <th>Origin</th>
            <th>Measured</th>
            <th>Estimated</th>
            <th title="|r| / √Ω; none for a critical measurement">Norm. residual</th>
            <th>Bad data</th>
            <th title="signed at the device or computed by the hub: an attacker cannot alter it">Evidence</th>
          </tr>
        </thead>
        <tbody>
          {byWorstResidual(report.measurements).map((m, i) => {
            const unit = m.point ? points.get(m.point)?.unit : undefined;
            const raw = m.point ? latest.get(m.point)?.last : undefined;
            return (
              <tr key={`${m.point ?? m.quantity}-${i}`} class={m.bad_data ? 'bad-data' : ''} data-testid="estimation-measurement" data-point={m.point ?? ''} data-origin={m.origin} data-bad-data={String(m.bad_data)}>
                <td>
                  {m.point ? (
                    <button class="link" onClick={() => onShowPoint(m.point as string)}>
                      {m.point}
                    </button>
                  ) : null}
                  <div class="quantity" title={m.quantity}>
                    {namedQuantity(m.quantity, report.buses)}
                  </div>
                </td>
                <td>{m.origin}</td>
                <td class="num" data-testid="measured">
                  {m.value_pu.toFixed(4)} pu ± {m.sigma_pu.toFixed(4)}
                  {raw !== undefined && unit && <div class="raw">{`${raw.toFixed(3)} ${unit}`}</div>}
                </td>
                <td class="num">{m.estimate_pu === null ? 'removed' : `${m.estimate_pu.toFixed(4)} pu`}</td>
                <td class="num" data-testid="residual">
                  {m.normalised_residual === null ? 'critical' : m.normalised_residual.toFixed(2)}
                </td>
                <td>{m.bad_data ? <span class="badge bad">bad data</span> : ''}</td>
                <td>{m.protected ? <span class="badge ok">{m.origin === 'measured' ? 'signed at device' : 'hub-computed'}</span> : <span class="badge muted">unsigned</span>}</td>
              </tr>
            );
          })}
        </tbody>
      </table>

      <h4>Buses</h4>
      <table class="values estimation-buses" data-testid="estimation-buses">
        <thead>
          <tr>
            <th>Bus</th>
            <th>|V|</th>
            <th>Angle</th>
            <th title="unsigned measurements an attacker must alter to move it undetectably (a = Hc)">Security index |V|</th>
            <th title="likewise for the angle">Security index angle</th>
          </tr>
        </thead>
        <tbody>
          {report.buses.map((b) => (
            <tr key={b.bus} data-testid="estimation-bus" data-bus={b.bus}>
              <td title={b.bus}>{b.name ?? b.bus}</td>
              <td class="num">{b.v_pu.toFixed(4)} pu</td>
              <td class="num">{b.angle_deg.toFixed(3)}°</td>
              <td class="num" data-testid="magnitude-attack">
                {attackCostText(b.magnitude_attack)}
              </td>
              <td class="num">{attackCostText(b.angle_attack)}</td>
            </tr>
          ))}
        </tbody>
      </table>

      <h4>Learned profiles</h4>
      {outside.length === 0 ? (
        <p data-testid="profiles-within">
          All {report.profiles.length - learning} judged points are within their learned profile (score ≤ {PROFILE_ALARM_SCORE})
          {learning > 0 && `; ${learning} still learning their time-of-day bucket`}.
        </p>
      ) : (
        <table class="values estimation-profiles" data-testid="estimation-profiles">
          <thead>
            <tr>
              <th>Point</th>
              <th>Bucket</th>
              <th>Latest</th>
              <th>Median</th>
              <th>MAD</th>
              <th>Score</th>
            </tr>
          </thead>
          <tbody>
            {outside.map((p) => (
              <tr key={p.point} data-testid="profile-outside" data-point={p.point}>
                <td>{p.point}</td>
                <td>
                  {p.bucket} ({p.samples} values)
                </td>
                <td class="num">
                  {p.last.toFixed(3)} {points.get(p.point)?.unit ?? ''}
                </td>
                <td class="num">{fixed(p.median, 3)}</td>
                <td class="num">{fixed(p.mad, 3)}</td>
                <td class="num">{fixed(p.score, 1)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
