// One way for a view to keep a hub answer current: fetch it now, again whenever the alarm list
// changes (what it shows is usually why an alarm was raised), and every few seconds. An answer
// that arrives after the view moved on (unmounted, or a newer fetch started) is dropped.
import { useEffect, useState } from 'preact/hooks';

/** How often a polled view fetches again when nothing else asks it to. */
export const REFRESH_MS = 5000;

export function usePolled<T>(load: () => Promise<T>, alarms: unknown, onResult: (result: T) => void, onError: (error: unknown) => void) {
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), REFRESH_MS);
    return () => clearInterval(timer);
  }, []);
  useEffect(() => {
    let live = true;
    load()
      .then((result) => live && onResult(result))
      .catch((error) => live && onError(error));
    return () => {
      live = false;
    };
  }, [alarms, tick]);
}
