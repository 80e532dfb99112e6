// The station tree: substations, voltage levels, bays (selectable) and their equipment.
import type { Model } from './api';

/** The selection that shows every bay's table at once (station overview). */
export const ALL_BAYS = '*';

export function StationTree({ model, selected, onSelect }: { model: Model; selected: string | null; onSelect: (bay: string) => void }) {
  return (
    <ul class="tree" data-testid="station-tree">
      <li>
        <button class={`node bay ${selected === ALL_BAYS ? 'selected' : ''}`} onClick={() => onSelect(ALL_BAYS)} data-testid="all-bays">
          All bays
        </button>
      </li>
      {model.substations.map((s) => (
        <li key={s.id}>
          <span class="node substation" title={s.mrid ?? undefined}>
            {s.name}
          </span>
          <ul>
            {s.voltage_levels.map((v) => (
              <li key={v.id}>
                <span class="node level">
                  {v.name}
                  {v.nominal_kv !== null && ` (${v.nominal_kv} kV)`}
                </span>
                <ul>
                  {v.bays.map((b) => (
                    <li key={b.id}>
                      <button class={`node bay ${b.id === selected ? 'selected' : ''}`} onClick={() => onSelect(b.id)} data-testid="bay" data-bay={b.id}>
                        {b.name}
                      </button>
                      <ul>
                        {b.equipment.map((e) => (
                          <li key={e.id} class="equipment" title={e.mrid ?? undefined}>
                            {e.name} <small>{e.kind}</small>
                          </li>
                        ))}
                      </ul>
                    </li>
                  ))}
                </ul>
              </li>
            ))}
          </ul>
        </li>
      ))}
    </ul>
  );
}
