// The control room: login, station tree, bay table and trend, one-line diagram, incidents, state estimation, alarms, commands, evidence.
import { render } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, ApiError, type Me, type Model, type PointInfo } from './api';
import { useLive } from './live';
import { ALL_BAYS, StationTree } from './tree';
import { BayView } from './bay';
import { AlarmList } from './alarms';
import { CommandDialog } from './command';
import { EvidenceView } from './evidence-view';
import { PasskeyDialog } from './passkeys';
import { OneLineView } from './oneline';
import { IncidentView } from './incidents';
import { EstimationView } from './estimation';

function Login({ onLogin }: { onLogin: (me: Me) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      onLogin(await api.login(username, password));
    } catch (err) {
      setError(err instanceof ApiError ? err.message : String(err));
    }
  };
  return (
    <form class="login" onSubmit={submit} data-testid="login">
      <h1>gridtrust control room</h1>
      <label>
        User <input name="username" autocomplete="username" value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
      </label>
      <label>
        Password
        <input name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
      </label>
      <button type="submit">Log in</button>
      {error && <p class="error" role="alert">{error}</p>}
    </form>
  );
}

function ControlRoom({ me, onLogout }: { me: Me; onLogout: () => void }) {
  const [model, setModel] = useState<Model | null>(null);
  const [points, setPoints] = useState<Map<string, PointInfo>>(new Map());
  const [loadError, setLoadError] = useState<string | null>(null);
  const [bayId, setBayId] = useState<string | null>(null);
  const [operate, setOperate] = useState<PointInfo | null>(null);
  const [evidenceFor, setEvidenceFor] = useState<string | null>(null);
  const [passkeys, setPasskeys] = useState(false);
  const [view, setView] = useState<'bays' | 'oneline' | 'incidents' | 'estimation'>('bays');
  const live = useLive();
  const selectBay = (bay: string) => {
    setBayId(bay);
    setView('bays');
  };
  /** Opens the bay a point is in (from a point named in the alarms, incidents or estimation). */
  const showPoint = (id: string) => {
    const bayOfPoint = points.get(id)?.bay;
    if (bayOfPoint) selectBay(bayOfPoint);
  };

  useEffect(() => {
    Promise.all([api.model(), api.points()])
      .then(([m, p]) => {
        setModel(m);
        setPoints(new Map(p.map((x) => [x.id, x])));
        const first = m.substations.flatMap((s) => s.voltage_levels.flatMap((v) => v.bays))[0];
        setBayId((current) => current ?? first?.id ?? null);
      })
      .catch((e) => setLoadError(e instanceof ApiError ? e.message : String(e)));
  }, []);

  const shownBays = useMemo(() => {
    const all = model?.substations.flatMap((s) => s.voltage_levels.flatMap((v) => v.bays)) ?? [];
    return bayId === ALL_BAYS ? all : all.filter((b) => b.id === bayId);
  }, [model, bayId]);
  const logout = async () => {
    await api.logout().catch(() => undefined);
    onLogout();
  };

  return (
    <div class="room">
      <header>
        <span class="brand">gridtrust</span>
        <span class={`stream ${live.connected ? 'up' : 'down'}`} data-testid="stream-state">
          {live.connected ? 'live' : 'reconnecting…'}
        </span>
        <a href="/api/docs" target="_blank" rel="noopener">
          API reference
        </a>
        <span class="user" data-testid="user">
          {me.username} ({me.roles.join(', ')})
        </span>
        <button onClick={() => setPasskeys(true)} data-testid="passkeys-button">
          Passkeys
        </button>
        <button onClick={logout}>Log out</button>
      </header>
      <nav>
        <button class={`view-switch ${view === 'oneline' ? 'active' : ''}`} onClick={() => setView('oneline')} data-testid="oneline-button">
          One-line diagram
        </button>
        <button class={`view-switch ${view === 'incidents' ? 'active' : ''}`} onClick={() => setView('incidents')} data-testid="incidents-button">
          Incidents
        </button>
        <button class={`view-switch ${view === 'estimation' ? 'active' : ''}`} onClick={() => setView('estimation')} data-testid="estimation-button">
          Estimation
        </button>
        {model ? <StationTree model={model} selected={view === 'bays' ? bayId : null} onSelect={selectBay} /> : <p>{loadError ?? 'Loading model…'}</p>}
      </nav>
      <main>
        {view === 'incidents' ? (
          <IncidentView
            me={me}
            alarms={live.alarms}
            onEvidence={setEvidenceFor}
            onShowPoint={showPoint}
            diagram={(affected) => <OneLineView me={me} points={points} values={live.values} onOpenBay={selectBay} onOperate={setOperate} affected={affected} />}
          />
        ) : view === 'estimation' ? (
          <EstimationView
            alarms={live.alarms}
            points={points}
            onShowPoint={showPoint}
          />
        ) : view === 'oneline' ? (
          <OneLineView me={me} points={points} values={live.values} onOpenBay={selectBay} onOperate={setOperate} />
        ) : (
          <>
            {shownBays.map((bay) => (
              <BayView key={bay.id} bay={bay} withTrend={bayId !== ALL_BAYS} points={points} values={live.values} recentFailures={live.recentFailures} onOperate={setOperate} onEvidence={setEvidenceFor} />
            ))}
            {model && shownBays.length === 0 && <p>Select a bay.</p>}
          </>
        )}
      </main>
      <aside>
        <AlarmList
          alarms={live.alarms}
          me={me}
          onAcked={live.upsertAlarm}
          onShowPoint={showPoint}
        />
      </aside>
      {operate && <CommandDialog point={operate} me={me} value={live.values.get(operate.id)} onClose={() => setOperate(null)} />}
      {evidenceFor && <EvidenceView point={evidenceFor} onClose={() => setEvidenceFor(null)} />}
      {passkeys && <PasskeyDialog me={me} onClose={() => setPasskeys(false)} />}
    </div>
  );
}

function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  useEffect(() => {
    api.me().then(setMe, () => setMe(null));
  }, []);
  if (me === undefined) return <p>Loading…</p>;
  if (me === null) return <Login onLogin={setMe} />;
  return <ControlRoom me={me} onLogout={() => setMe(null)} />;
}

const root = document.getElementById('app');
if (root) render(<App />, root);
