// The one-line diagram: busbars, lines, transformers and switches of the served model, where its
// DL profile draws them (else where the hub laid them out), switches open or closed from their
// live position, energised parts coloured and de-energised ones grey, live values with units and
// trust. The hub decides what is energised (GET /api/model/diagram); the diagram is read again
// whenever a switch position changes. Clicking an equipment selects it: its values with quality
// and trust, its bay, and the command dialog for an operable switch.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, mayOperate, type Me, type OneLine, type OneLineEquipment, type PointInfo, type Value, type XY } from './api';
import { QualityBadge, TrustBadge } from './badges';
import { anchor, extent, positionsKey, shownValues, symbolSize, valueLabel } from './oneline-geometry';

const SWITCHES = new Set(['Breaker', 'Disconnector', 'LoadBreakSwitch', 'Switch']);

function polyline(points: XY[]): string {
  return points.map((p) => `${p.x},${p.y}`).join(' ');
}

/** The symbol of one equipment at `at`, `s` diagram units across. */
function Symbol({ e, at, s }: { e: OneLineEquipment; at: XY; s: number }) {
  const open = e.switch?.state === 'open';
  const r = s / 2;
  switch (e.kind) {
    case 'Breaker':
      return <rect class={`sym breaker ${open ? 'open' : 'closed'}`} x={at.x - r} y={at.y - r} width={s} height={s} />;
    case 'Disconnector':
    case 'LoadBreakSwitch':
    case 'Switch':
      // A blade: along the connection when closed, swung out when open.
      return (
        <g class={`sym blade ${open ? 'open' : 'closed'}`}>
          <circle cx={at.x} cy={at.y} r={r} class="blade-ring" />
          <line x1={at.x} y1={at.y - r} x2={open ? at.x + r : at.x} y2={open ? at.y + r * 0.2 : at.y + r} />
        </g>
      );
    case 'Transformer':
      return (
        <g class="sym transformer">
          <circle cx={at.x} cy={at.y - r * 0.45} r={r * 0.7} />
          <circle cx={at.x} cy={at.y + r * 0.45} r={r * 0.7} />
        </g>
      );
    case 'Load':
      return <polygon class="sym load" points={polyline([{ x: at.x - r, y: at.y - r * 0.5 }, { x: at.x + r, y: at.y - r * 0.5 }, { x: at.x, y: at.y + r }])} />;
    case 'Generator':
    case 'Inverter':
    case 'Injection':
      return (
        <g class="sym source">
          <circle cx={at.x} cy={at.y} r={r} />
          <text x={at.x} y={at.y} font-size={s * 0.7} text-anchor="middle" dominant-baseline="central">
            {e.kind === 'Generator' ? 'G' : e.kind === 'Inverter' ? '≈' : '~'}
          </text>
        </g>
      );
    case 'BusbarSection':
      return null;
    default:
      return <circle class="sym other" cx={at.x} cy={at.y} r={r * 0.5} />;
  }
}

function Equipment({
  e,
  s,
  selected,
  affected,
  points,
  values,
  onSelect,
}: {
  e: OneLineEquipment;
  s: number;
  selected: boolean;
  affected: boolean;
  points: Map<string, PointInfo>;
  values: Map<string, Value>;
  onSelect: (e: OneLineEquipment) => void;
}) {
  const at = anchor(e);
  if (!at) return null;
  const shown = shownValues(e, points, values).slice(0, 2);
  const state = e.switch?.state;
  return (
    <g
      class={`eq ${e.energised ? 'live' : 'dead'} ${selected ? 'selected' : ''} ${affected ? 'affected' : ''} kind-${e.kind}`}
      data-testid="oneline-equipment"
      data-id={e.id}
      data-kind={e.kind}
      data-state={state}
      data-energised={String(e.energised)}
      data-affected={affected ? 'true' : undefined}
      onClick={() => onSelect(e)}
    >
      <title>
        {e.name} ({e.kind}
        {state ? `, ${state}` : ''}
        {e.energised ? ', energised' : ', de-energised'})
      </title>
      {e.connectors.map((c, i) => (
        <polyline key={i} class="wire" points={polyline(c)} stroke-width={s * 0.12} />
      ))}
      {e.points.length > 1 && e.kind !== 'BusbarSection' && <polyline class="wire" points={polyline(e.points)} stroke-width={s * (e.kind === 'Line' ? 0.18 : 0.12)} />}
      <g stroke-width={s * 0.12} transform={e.rotation_deg ? `rotate(${e.rotation_deg} ${at.x} ${at.y})` : undefined}>
        <Symbol e={e} at={at} s={s} />
      </g>
      <text class="label" x={at.x + s * 0.8} y={at.y - s * 0.2} font-size={s * 0.55}>
        {e.name}
      </text>
      {shown.map((v, i) => (
        <text
          key={v.id}
          class={`value trust-${v.value.trust.status}`}
          data-testid="oneline-value"
          data-point={v.id}
          data-trust={v.value.trust.status}
          x={at.x + s * 0.8}
          y={at.y + s * (0.45 + 0.6 * i)}
          font-size={s * 0.5}
        >
          {valueLabel(v.value, v.info)} {v.value.trust.status === 'verified' ? '✔' : v.value.trust.status === 'failed' ? '✖' : '?'}
        </text>
      ))}
    </g>
  );
}

/** What is known of the selected equipment, with the bay and command actions. */
function Selection({
  e,
  me,
  points,
  values,
  onOpenBay,
  onOperate,
}: {
  e: OneLineEquipment;
  me: Me;
  points: Map<string, PointInfo>;
  values: Map<string, Value>;
  onOpenBay: (bay: string) => void;
  onOperate: (p: PointInfo) => void;
}) {
  const command = e.switch?.command_point ? points.get(e.switch.command_point) : undefined;
  return (
    <section class="oneline-selection" data-testid="oneline-selection" data-id={e.id}>
      <h3>
        {e.name} <small>{e.kind}</small>
      </h3>
      <p>
        {e.energised ? 'energised' : 'de-energised'}
        {e.switch && (
          <span data-testid="oneline-switch-state">
            {' '}
            · {e.switch.state} ({e.switch.state_from === 'live' ? 'live position' : e.switch.state_from === 'normal' ? 'normal state, no live position' : 'assumed, no position known'})
          </span>
        )}
      </p>
      <table class="values">
        <tbody>
          {e.point_ids.map((id) => {
            const v = values.get(id);
            const info = points.get(id);
            return (
              <tr key={id} data-point={id}>
                <td class="pid">{id}</td>
                <td class="num">{v ? valueLabel(v, info) : '—'}</td>
                <td>{v && <QualityBadge quality={v.quality} />}</td>
                <td>{v && <TrustBadge trust={v.trust} />}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <p>
        {e.bay && (
          <button onClick={() => e.bay && onOpenBay(e.bay)} data-testid="oneline-open-bay">
            Open bay
          </button>
        )}{' '}
        {command && command.operable && mayOperate(me) && (
          <button onClick={() => onOperate(command)} data-testid="oneline-operate">
            Operate…
          </button>
        )}
      </p>
    </section>
  );
}

export function OneLineView({
  me,
  points,
  values,
  onOpenBay,
  onOperate,
  affected,
}: {
  me: Me;
  points: Map<string, PointInfo>;
  values: Map<string, Value>;
  onOpenBay: (bay: string) => void;
  onOperate: (p: PointInfo) => void;
  /** Equipment to mark (an incident's affected area), by id. */
  affected?: Set<string>;
}) {
  const [diagram, setDiagram] = useState<OneLine | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [selectedId, setSelectedId] = useState<string | null>(null);
  const key = positionsKey(diagram, values);

  // Read the diagram at first and again whenever a switch position changes.
  useEffect(() => {
    let gone = false;
    api.oneLine().then(
      (d) => !gone && (setDiagram(d), setError(null)),
      (e) => !gone && setError(e instanceof ApiError ? e.message : String(e)),
    );
    return () => {
      gone = true;
    };
  }, [key]);

  const box = useMemo(() => (diagram ? extent(diagram) : null), [diagram]);
  if (error) return <p class="error" data-testid="oneline-error">{error}</p>;
  if (!diagram || !box) return <p>Loading the one-line diagram…</p>;
  const s = symbolSize(box);
  const selected = diagram.equipment.find((e) => e.id === selectedId);
  // Busbar sections are drawn as their node; switches last, on top.
  const order = (e: OneLineEquipment) => (SWITCHES.has(e.kind) ? 2 : e.kind === 'Line' ? 0 : 1);
  const drawn = [...diagram.equipment].sort((a, b) => order(a) - order(b));
  return (
    <section class="oneline" data-testid="oneline-view" data-layout={diagram.layout}>
      <h2>
        One-line diagram{' '}
        <small>{diagram.layout === 'dl' ? `from the model's diagram layout${diagram.diagram_name ? ` “${diagram.diagram_name}”` : ''}` : 'laid out automatically (the model has no diagram layout)'}</small>
      </h2>
      <p class="legend">
        <span class="swatch live" /> energised <span class="swatch dead" /> de-energised · ■ breaker closed, □ open · values with units, ✔ verified in the field
        {affected && (
          <>
            {' '}
            · <span class="swatch affected" /> affected by the incident
          </>
        )}
      </p>
      {diagram.nodes.length === 0 && (
        <p class="warn" data-testid="oneline-empty">
          The served model has no CIM topology (terminals connected to nodes), so there is nothing to draw: import it with its CGMES files.
        </p>
      )}
      <svg class="oneline-svg" viewBox={`${box.x} ${box.y} ${box.width} ${box.height}`} role="img" aria-label="One-line diagram">
        {diagram.nodes.map((n) =>
          n.points.length > 1 ? (
            <polyline
              key={n.id}
              class={`node ${n.energised ? 'live' : 'dead'} ${n.busbar ? 'busbar' : ''}`}
              data-testid={n.busbar ? 'oneline-busbar' : 'oneline-node'}
              data-id={n.id}
              data-energised={String(n.energised)}
              points={polyline(n.points)}
              stroke-width={s * (n.busbar ? 0.45 : 0.2)}
            >
              <title>
                {n.name ?? n.id}
                {n.nominal_kv !== null ? ` (${n.nominal_kv} kV)` : ''}
                {n.energised ? ', energised' : ', de-energised'}
              </title>
            </polyline>
          ) : n.points.length === 1 ? (
            <circle key={n.id} class={`node ${n.energised ? 'live' : 'dead'}`} data-testid="oneline-node" data-id={n.id} data-energised={String(n.energised)} cx={n.points[0].x} cy={n.points[0].y} r={s * 0.15}>
              <title>{n.name ?? n.id}</title>
            </circle>
          ) : null,
        )}
        {drawn.map((e) => (
          <Equipment
            key={e.id}
            e={e}
            s={s}
            selected={e.id === selectedId}
            affected={affected?.has(e.id) ?? false}
            points={points}
            values={values}
            onSelect={(x) => setSelectedId(x.id)}
          />
        ))}
      </svg>
      {selected && <Selection e={selected} me={me} points={points} values={values} onOpenBay={onOpenBay} onOperate={onOperate} />}
    </section>
  );
}
