// Live state from the hub: the latest value of every point and the alarm list, loaded once and
// then kept current by the Server-Sent Events stream (/api/events). EventSource reconnects by
// itself; after a reconnect the snapshot is loaded again so nothing missed while away is lost.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, type Alarm, type Value } from './api';

/** Listeners for every value of one point (the trend chart appends to its series). */
type ValueListener = (v: Value) => void;

/** A trust failure seen on a point, kept for a while after good values restored it. */
export interface RecentFailure {
  at: number;
  reason: string | null;
}

/** How long a restored point still shows that it failed verification. */
export const RECENT_FAILURE_MS = 60_000;

export interface Live {
  connected: boolean;
  values: Map<string, Value>;
  recentFailures: Map<string, RecentFailure>;
  alarms: Alarm[];
  upsertAlarm: (a: Alarm) => void;
}

const listeners = new Map<string, Set<ValueListener>>();

/** Subscribes to every live value of `point`; returns the unsubscribe function. */
export function subscribeValues(point: string, listener: ValueListener): () => void {
  let set = listeners.get(point);
  if (!set) listeners.set(point, (set = new Set()));
  set.add(listener);
  return () => set.delete(listener);
}

function sortAlarms(list: Alarm[]): Alarm[] {
  return [...list].sort((a, b) => b.id - a.id).slice(0, 200);
}

export function useLive(): Live {
  const [connected, setConnected] = useState(false);
  const [values, setValues] = useState<Map<string, Value>>(new Map());
  const [recentFailures, setRecentFailures] = useState<Map<string, RecentFailure>>(new Map());
  const [alarms, setAlarms] = useState<Alarm[]>([]);
  const pending = useRef<Value[]>([]);

  const upsertAlarm = useCallback((a: Alarm) => {
    setAlarms((list) => sortAlarms([a, ...list.filter((x) => x.id !== a.id)]));
  }, []);

  useEffect(() => {
    let closed = false;
    const snapshot = () => {
      api.values().then((vs) => !closed && setValues(new Map(vs.map((v) => [v.point, v]))), () => undefined);
      api.alarms('all').then((as) => !closed && setAlarms(sortAlarms(as)), () => undefined);
    };
    snapshot();
    const events = new EventSource('/api/events');
    events.onopen = () => {
      setConnected(true);
      snapshot();
    };
    events.onerror = () => setConnected(false);
    // Values can arrive by the hundred per second; render at most five times a second, except
    // that a trust failure renders at once: a good value following it within the same window
    // must not hide it.
    const flush = () => {
      if (pending.current.length === 0) return;
      const batch = pending.current;
      pending.current = [];
      setValues((old) => {
        const next = new Map(old);
        for (const v of batch) next.set(v.point, v);
        return next;
      });
    };
    events.addEventListener('value', (e) => {
      const v = JSON.parse((e as MessageEvent<string>).data) as Value;
      pending.current.push(v);
      listeners.get(v.point)?.forEach((l) => l(v));
      if (v.trust.status === 'failed') {
        flush();
        setRecentFailures((old) => new Map(old).set(v.point, { at: Date.now(), reason: v.trust.reason }));
      }
    });
    events.addEventListener('alarm', (e) => upsertAlarm(JSON.parse((e as MessageEvent<string>).data) as Alarm));
    const timer = window.setInterval(flush, 200);
    return () => {
      closed = true;
      events.close();
      window.clearInterval(timer);
    };
  }, [upsertAlarm]);

  return { connected, values, recentFailures, alarms, upsertAlarm };
}
