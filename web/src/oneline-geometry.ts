// Pure helpers of the one-line view: the drawing's extent, where a symbol goes, how big symbols
// are in diagram units (DL coordinates have any scale), and how a value is labelled.
import type { OneLine, OneLineEquipment, PointInfo, Value, XY } from './api';

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Every coordinate of the drawing (nodes, equipment, connectors). */
function allPoints(d: OneLine): XY[] {
  return [...d.nodes.flatMap((n) => n.points), ...d.equipment.flatMap((e) => [...e.points, ...e.connectors.flat()])];
}

/** The drawing's extent with a margin; a unit box for an empty drawing. */
export function extent(d: OneLine): Box {
  const points = allPoints(d);
  if (points.length === 0) return { x: 0, y: 0, width: 1, height: 1 };
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const margin = Math.max(x1 - x0, y1 - y0, 1) * 0.06;
  return { x: x0 - margin, y: y0 - margin, width: x1 - x0 + 2 * margin, height: y1 - y0 + 2 * margin };
}

/** Symbol size in diagram units: a fixed share of the drawing, so DL and automatic layouts look alike. */
export function symbolSize(box: Box): number {
  return Math.max(box.width, box.height) / 45;
}

/** Where an equipment's symbol is drawn: its point, or the middle of its polyline. */
export function anchor(e: OneLineEquipment): XY | null {
  const p = e.points;
  if (p.length === 0) return null;
  if (p.length === 1) return p[0];
  // Middle by length along the polyline.
  const lengths = p.slice(1).map((q, i) => Math.hypot(q.x - p[i].x, q.y - p[i].y));
  let half = lengths.reduce((a, b) => a + b, 0) / 2;
  for (let i = 0; i < lengths.length; i++) {
    if (half <= lengths[i] && lengths[i] > 0) {
      const t = half / lengths[i];
      return { x: p[i].x + t * (p[i + 1].x - p[i].x), y: p[i].y + t * (p[i + 1].y - p[i].y) };
    }
    half -= lengths[i];
  }
  return p[p.length - 1];
}

const NUMBER = new Intl.NumberFormat('en', { maximumFractionDigits: 2 });

/** A value with its unit (`12.5 MW`); states as the hub names them; the unit is left out only when the model has none. */
export function valueLabel(v: Value, info: PointInfo | undefined): string {
  const text = typeof v.value === 'number' ? NUMBER.format(v.value) : v.value_text;
  return info?.unit ? `${text} ${info.unit}` : text;
}

/** The measured values of an equipment to show on the diagram: analogue points with a value. */
export function shownValues(e: OneLineEquipment, points: Map<string, PointInfo>, values: Map<string, Value>): { id: string; value: Value; info: PointInfo | undefined }[] {
  return e.point_ids
    .map((id) => ({ id, value: values.get(id), info: points.get(id) }))
    .filter((x): x is { id: string; value: Value; info: PointInfo | undefined } => x.value !== undefined && x.info?.kind === 'analog');
}

/** Changes whenever a switch position value changes: the diagram (energised parts) is then read again. */
export function positionsKey(d: OneLine | null, values: Map<string, Value>): string {
  if (!d) return '';
  return d.equipment
    .map((e) => e.switch?.position_point)
    .filter((p): p is string => !!p)
    .map((p) => {
      const v = values.get(p);
      return v ? `${p}=${v.value_text}@${v.seq}/${v.trust.status}` : `${p}=-`;
    })
    .join('|');
}
