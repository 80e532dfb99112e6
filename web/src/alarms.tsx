// The alarm list, newest first, with acknowledge for roles that may (the hub enforces it).
import { useState } from 'preact/hooks';
import { api, ApiError, mayOperate, type Alarm, type Me } from './api';

export function AlarmList({
  alarms,
  me,
  onAcked,
  onShowPoint,
}: {
  alarms: Alarm[];
  me: Me;
  onAcked: (a: Alarm) => void;
  /** Opens the bay of the alarm's point. */
  onShowPoint: (point: string) => void;
}) {
  const [error, setError] = useState<string | null>(null);
  const ack = async (a: Alarm) => {
    setError(null);
    try {
      onAcked(await api.ack(a.id));
    } catch (e) {
      setError(e instanceof ApiError ? `Alarm ${a.id}: ${e.message}` : String(e));
    }
  };
  const active = alarms.filter((a) => a.acknowledged === null).length;
  return (
    <section class="alarms" data-testid="alarms">
      <h2>
        Alarms <span class="count">{active} unacknowledged</span>
      </h2>
      {error && <p class="error" role="alert">{error}</p>}
      <ol>
        {alarms.map((a) => (
          <li key={a.id} class={`alarm sev-${a.severity} ${a.acknowledged ? 'acked' : ''}`} data-testid="alarm" data-alarm-id={a.id} data-kind={a.kind}>
            <div class="alarm-head">
              <span class={`badge sev-${a.severity}`}>{a.severity}</span> <span class="kind">{a.kind}</span>{' '}
              <time>{new Date(a.raised_at).toLocaleTimeString(undefined, { hour12: false })}</time> <span class="source">{a.source}</span>
            </div>
            <div class="message">{a.message}</div>
            {a.point && (
              <button class="link pid" title="Show the point's bay" onClick={() => onShowPoint(a.point as string)}>
                {a.point}
              </button>
            )}
            {a.acknowledged ? (
              <div class="ack-by" data-testid="acked">
                acknowledged by {a.acknowledged.by} at {new Date(a.acknowledged.at).toLocaleTimeString(undefined, { hour12: false })}
              </div>
            ) : (
              mayOperate(me) && (
                <button onClick={() => ack(a)} data-testid="ack-button">
                  Acknowledge
                </button>
              )
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}
