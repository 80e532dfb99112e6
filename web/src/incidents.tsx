// Incidents: the hub's alarms correlated by time and equipment, each with its timeline, the
// affected area and the ranked recommendations with their reasons (docs/incidents.md). The list
// is fetched again when an alarm arrives, and every few seconds (switch positions change too).
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError, mayOperate, type Alarm, type DecisionStep, type Incident, type IncidentDecision, type Me } from './api';
import { signDecision } from './passkey';
import { usePolled } from './polled';

/** What the incident's area is on the one-line diagram: the equipment its alarms name, the loads
 * of its feeders and the tie switches its recommendations close. */
function affectedEquipment(incident: Incident): Set<string> {
  return new Set([
    ...incident.equipment.map((e) => e.id),
    ...incident.supply.loads.map((l) => l.id),
    ...incident.recommendations.filter((r) => r.action === 'reroute').map((r) => r.target),
  ]);
}

/** The supply's customers and, in brackets, those without supply: the known counts only, so a
 * dash when the model counts no load's customers. */
function customerTotals(supply: Incident['supply']): string {
  if (supply.loads.every((l) => l.customers === null)) return '–';
  return `${supply.total_customers} (${supply.unsupplied_customers})`;
}

const clock = (t: string) => new Date(t).toLocaleTimeString(undefined, { hour12: false });

const PROOF: Record<IncidentDecision['proof'], string> = {
  passkey: 'their passkey',
  console: "the hub's console key",
  hub: "the hub only (no passkey: the hub's word)",
};

export function IncidentView({
  me,
  alarms,
  onEvidence,
  onShowPoint,
  diagram,
}: {
  me: Me;
  /** A new list when an alarm arrives or is acknowledged: the incidents are fetched again. */
  alarms: Alarm[];
  onEvidence: (point: string) => void;
  onShowPoint: (point: string) => void;
  /** The one-line diagram with this equipment marked (absent: no diagram). */
  diagram?: (affected: Set<string>) => ComponentChildren;
}) {
  const [incidents, setIncidents] = useState<Incident[] | null>(null);
  const [selected, setSelected] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  usePolled(
    () => api.incidents(),
    alarms,
    (list) => {
      setIncidents(list);
      setError(null);
      setSelected((s) => (s !== null && list.some((i) => i.id === s) ? s : (list[0]?.id ?? null)));
    },
    (e) => setError(e instanceof ApiError ? e.message : String(e)),
  );

  /** A signed, logged decision: with the person's passkey when they have one (the hub prepares
   * it, the passkey signs), else the hub decides who vouches (its console key, or for an
   * acknowledgement its own key) and refuses an action nobody can sign for. */
  const decide = async (incident: Incident, step: DecisionStep, rank?: number) => {
    setError(null);
    try {
      const prepared = await api.prepareDecision(incident.id, step, rank).catch((e) => {
        if (e instanceof ApiError && (e.status === 409 || e.status === 503)) return null;
        throw e;
      });
      const assertion = prepared ? await signDecision(prepared) : undefined;
      const decided = await api.decide(incident.id, step, rank, assertion);
      setIncidents((list) => list?.map((i) => (i.id === decided.id ? decided : i)) ?? null);
    } catch (e) {
      setError(e instanceof ApiError ? `Incident ${incident.id}: ${e.message}` : String(e));
    }
  };

  const shown = incidents?.find((i) => i.id === selected) ?? null;
  return (
    <section class="incidents" data-testid="incidents">
      <h2>Incidents</h2>
      {error && <p class="error" role="alert">{error}</p>}
      {incidents === null && !error && <p>Loading incidents…</p>}
      {incidents !== null && incidents.length === 0 && <p data-testid="no-incidents">No incidents: no alarms to correlate.</p>}
      <div class="incident-split">
        <ol class="incident-list">
          {incidents?.map((i) => (
            <li key={i.id}>
              <button
                class={`incident-item sev-${i.severity} ${i.id === selected ? 'active' : ''} ${i.acknowledged && i.new_since_ack === 0 ? 'acked' : ''}`}
                onClick={() => setSelected(i.id)}
                data-testid="incident"
                data-incident-id={i.id}
              >
                <span class={`badge sev-${i.severity}`}>{i.severity}</span> {i.title}
                <span class="when">
                  {clock(i.first_at)}–{clock(i.last_at)}, {i.alarms.length} alarm{i.alarms.length === 1 ? '' : 's'}
                  {i.acknowledged && (i.new_since_ack > 0 ? `, ${i.new_since_ack} new since acknowledged` : ', acknowledged')}
                </span>
              </button>
            </li>
          ))}
        </ol>
        {shown && (
          <article class="incident-detail" data-testid="incident-detail" data-incident-id={shown.id}>
            <h3>
              <span class={`badge sev-${shown.severity}`}>{shown.severity}</span> {shown.title}
            </h3>
            {shown.escalated && <p class="warn">Raised to critical: values failed verification and disagree with the grid at the same place.</p>}
            {shown.acknowledged ? (
              <p class="ack-by" data-testid="incident-acked">
                acknowledged by {shown.acknowledged.by} at {clock(shown.acknowledged.at)}
                {shown.new_since_ack > 0 && `; ${shown.new_since_ack} alarm(s) joined since`}
              </p>
            ) : null}
            {mayOperate(me) && (!shown.acknowledged || shown.new_since_ack > 0) && (
              <button onClick={() => decide(shown, 'acknowledge')} data-testid="incident-ack-button">
                Acknowledge incident
              </button>
            )}

            <h4>Recommended actions</h4>
            {shown.recommendations.length === 0 && <p>None.</p>}
            <ol class="recommendations">
              {shown.recommendations.map((r) => (
                <li key={`${r.action}-${r.target}`} data-testid="recommendation" data-action={r.action}>
                  <div class="rec-head">
                    <strong>{r.title}</strong>: {r.target_name}
                  </div>
                  <div class="rec-reason">
                    <span class="label">Why</span> {r.reason}
                  </div>
                  <div class="rec-effect">
                    <span class="label">Effect</span> {r.effect}
                  </div>
                  {mayOperate(me) && (
                    <button onClick={() => decide(shown, 'execute', r.rank)} data-testid="carry-out" title="Sign with your passkey that this is being done">
                      Carry out
                    </button>
                  )}
                </li>
              ))}
            </ol>
            {shown.decisions.length > 0 && (
              <>
                <h4>Decisions</h4>
                <ol class="decisions" data-testid="incident-decisions">
                  {shown.decisions.map((d) => (
                    <li key={d.log_index} data-testid="incident-decision" data-step={d.step} data-action={d.action ?? ''} data-proof={d.proof}>
                      <time>{clock(d.at)}</time> {d.summary}; signed by {PROOF[d.proof]}, log entry {d.log_index}
                    </li>
                  ))}
                </ol>
              </>
            )}
            {shown.notes.length > 0 && (
              <ul class="notes" data-testid="incident-notes">
                {shown.notes.map((n) => (
                  <li key={n}>{n}</li>
                ))}
              </ul>
            )}

            <h4>Affected area</h4>
            <p>
              {shown.feeders.length > 0 ? `Feeder ${shown.feeders.join(', ')}` : 'No feeder of the model'}
              {shown.equipment.length > 0 && `; equipment ${shown.equipment.map((e) => `${e.name}${e.bay ? ` (bay ${e.bay})` : ''}`).join(', ')}`}
            </p>
            {shown.supply.loads.length > 0 && (
              <table class="values supply" data-testid="incident-supply">
                <thead>
                  <tr>
                    <th>Load</th>
                    <th>Feeder</th>
                    <th class="num">MW</th>
                    <th class="num">Customers</th>
                    <th>Supply</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.supply.loads.map((l) => (
                    <tr key={l.id} class={l.supplied ? '' : 'row-failed'}>
                      <td>{l.name}</td>
                      <td>{l.feeder}</td>
                      <td class="num">{l.p_mw === null ? '–' : l.p_mw.toFixed(2)}</td>
                      <td class="num">{l.customers === null ? '–' : l.customers}</td>
                      <td>{l.supplied ? 'supplied' : 'without supply'}</td>
                    </tr>
                  ))}
                </tbody>
                <tfoot>
                  <tr>
                    <td colSpan={2}>Total (without supply)</td>
                    <td class="num">
                      {shown.supply.total_mw.toFixed(2)} ({shown.supply.unsupplied_mw.toFixed(2)})
                    </td>
                    <td class="num" title="loads without a customer count are not in the sums">
                      {customerTotals(shown.supply)}
                    </td>
                    <td />
                  </tr>
                </tfoot>
              </table>
            )}

            {diagram && shown.equipment.length + shown.supply.loads.length > 0 && (
              <div class="incident-area" data-testid="incident-area">
                {diagram(affectedEquipment(shown))}
              </div>
            )}

            <h4>Timeline</h4>
            <ol class="timeline" data-testid="incident-timeline">
              {shown.alarms.map((a) => (
                <li key={a.id} class={`alarm sev-${a.severity}`} data-testid="incident-alarm" data-kind={a.kind}>
                  <div class="alarm-head">
                    <time>{clock(a.raised_at)}</time> <span class="kind">{a.kind}</span> <span class="source">{a.source}</span> <span class="pid">#{a.id}</span>
                  </div>
                  <div class="message">{a.message}</div>
                  {a.point && (
                    <div>
                      <button class="link pid" title="Show the point's bay" onClick={() => onShowPoint(a.point as string)}>
                        {a.point}
                      </button>{' '}
                      {a.evidence && (
                        <button class="link" onClick={() => onEvidence(a.point as string)} data-testid="incident-evidence">
                          evidence
                        </button>
                      )}
                    </div>
                  )}
                </li>
              ))}
            </ol>
          </article>
        )}
      </div>
    </section>
  );
}
