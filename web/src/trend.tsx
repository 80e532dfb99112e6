// Trend chart of one point: the last ten minutes from the history API, then every live value.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { api, ApiError } from './api';
import { subscribeValues } from './live';

const WINDOW_MS = 10 * 60 * 1000;
const MAX_POINTS = 600;

export function Trend({ point, unit, label }: { point: string; unit: string | null; label: string }) {
  const host = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const xs: number[] = [];
    const ys: (number | null)[] = [];
    const plot = new uPlot(
      {
        width: Math.max(300, el.clientWidth),
        height: 220,
        series: [{}, { label: unit ? `${label} [${unit}]` : label, stroke: '#1d6fb8', width: 1.5 }],
        axes: [{}, { size: 60 }],
        scales: { x: { time: true } },
      },
      [xs, ys],
      el,
    );
    let live = true;
    const redraw = () => plot.setData([xs, ys]);
    const to = new Date();
    api
      .history(point, new Date(to.getTime() - WINDOW_MS), to, 300)
      .then((h) => {
        if (!live) return;
        const older = h.samples.map((s) => [Date.parse(s.t) / 1000, s.avg] as const).filter(([t]) => xs.length === 0 || t < xs[0]);
        xs.unshift(...older.map(([t]) => t));
        ys.unshift(...older.map(([, y]) => y));
        redraw();
      })
      .catch((e) => live && setError(e instanceof ApiError ? `history: ${e.message}` : String(e)));
    const unsubscribe = subscribeValues(point, (v) => {
      if (typeof v.value !== 'number') return;
      xs.push(Date.parse(v.source_time ?? v.received_at) / 1000);
      ys.push(v.value);
      if (xs.length > MAX_POINTS) {
        xs.shift();
        ys.shift();
      }
      redraw();
    });
    const resize = new ResizeObserver(() => plot.setSize({ width: Math.max(300, el.clientWidth), height: 220 }));
    resize.observe(el);
    return () => {
      live = false;
      unsubscribe();
      resize.disconnect();
      plot.destroy();
    };
  }, [point, unit, label]);

  return (
    <figure class="trend" data-testid="trend" data-point={point}>
      <figcaption>Trend: {label}</figcaption>
      <div ref={host} />
      {error && <p class="error">{error}</p>}
    </figure>
  );
}
