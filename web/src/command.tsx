// Select-before-operate from the browser: choose a value, SELECT, the device confirms the
// selection, EXECUTE (or cancel), and the device's answer. Each stage is a command the person
// signs with their passkey: the dialog shows exactly what is signed (point, action, value, target
// edge, expiry, digest) while the authenticator asks for the person's PIN or biometric; hub and
// edge both verify it. A role that may not operate is refused by the hub, not just hidden here.
import { useEffect, useState } from 'preact/hooks';
import {
  api,
  ApiError,
  mayOperate,
  type Command,
  type CommandAction,
  type CommandValue,
  type Me,
  type PointInfo,
  type PreparedCommand,
  type Value,
} from './api';
import { checkedDigest, signPrepared } from './passkey';

const FINAL: Command['state'][] = ['terminated', 'refused', 'timeout'];

/** The values a command kind offers, as the API encodes them. */
function choices(p: PointInfo): { label: string; value: CommandValue }[] {
  switch (p.command_kind) {
    case 'double':
      return [
        { label: 'Open', value: { kind: 'double', value: 'open' } },
        { label: 'Close', value: { kind: 'double', value: 'closed' } },
      ];
    case 'single':
      return [
        { label: 'On', value: { kind: 'single', value: true } },
        { label: 'Off', value: { kind: 'single', value: false } },
      ];
    case 'step':
      return [
        { label: 'Raise', value: { kind: 'step', value: 'raise' } },
        { label: 'Lower', value: { kind: 'step', value: 'lower' } },
      ];
    default:
      return [];
  }
}

/** Polls one command until it reaches `want` or a final state (the device's answer). */
async function await_(id: number, want: Command['state'][], onUpdate: (c: Command) => void): Promise<Command> {
  for (;;) {
    const c = await api.commandById(id);
    onUpdate(c);
    if (want.includes(c.state) || FINAL.includes(c.state)) return c;
    await new Promise((r) => setTimeout(r, 400));
  }
}

export function CommandDialog({ point, me, value, onClose }: { point: PointInfo; me: Me; value: Value | undefined; onClose: () => void }) {
  const options = choices(point);
  const [setpoint, setSetpoint] = useState('');
  const [choice, setChoice] = useState(0);
  const [stage, setStage] = useState<'choose' | 'selecting' | 'selected' | 'executing' | 'done'>('choose');
  const [command, setCommand] = useState<Command | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [log, setLog] = useState<string[]>([]);
  const [signing, setSigning] = useState<{ prepared: PreparedCommand; digest: string; signed: boolean } | null>(null);
  const note = (s: string) => setLog((l) => [...l, `${new Date().toLocaleTimeString(undefined, { hour12: false })} ${s}`]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);

  const send = async (action: CommandAction, v: CommandValue, want: Command['state'][]): Promise<Command | null> => {
    setError(null);
    try {
      const c = await signAndSend(action, v);
      note(`${action} sent (command ${c.id})`);
      const final = await await_(c.id, want, setCommand);
      note(`${action}: ${final.state}${final.outcome_reason ? ` — ${final.outcome_reason}` : ''}${final.refused_by ? ` (refused by ${final.refused_by})` : ''}`);
      return final;
    } catch (e) {
      setSigning(null);
      const msg = e instanceof ApiError ? `${e.status} ${e.code}: ${e.message}` : String(e);
      note(`${action} refused: ${msg}`);
      setError(msg);
      return null;
    }
  };

  /** The hub prepares the command; the person sees it and signs its digest with the passkey. */
  const signAndSend = async (action: CommandAction, v: CommandValue): Promise<Command> => {
    const prepared = await api.prepare(point.id, action, v);
    const digest = await checkedDigest(prepared);
    setSigning({ prepared, digest, signed: false });
    note(`${action}: sign with your passkey`);
    const assertion = await signPrepared(prepared);
    setSigning({ prepared, digest, signed: true });
    return api.command(point.id, action, v, assertion);
  };

  const current = (): CommandValue | null =>
    point.command_kind === 'setpoint' ? (setpoint.trim() === '' || !Number.isFinite(Number(setpoint)) ? null : { kind: 'setpoint', value: Number(setpoint) }) : (options[choice]?.value ?? null);

  const select = async () => {
    const v = current();
    if (!v) return setError('Enter a number.');
    setStage('selecting');
    const c = await send('select', v, ['confirmed']);
    setStage(c && c.state === 'confirmed' ? 'selected' : 'done');
  };
  const execute = async () => {
    const v = current();
    if (!v) return;
    setStage('executing');
    await send('execute', v, []);
    setStage('done');
  };
  const cancel = async () => {
    const v = current();
    if (v) await send('cancel', v, []);
    setStage('done');
  };

  return (
    <div class="modal" role="dialog" aria-modal="true" aria-label={`Operate ${point.id}`} data-testid="command-dialog">
      <div class="modal-body">
        <h2>Operate {point.description ?? point.id}</h2>
        <p class="pid">{point.id}</p>
        <p>
          Now: <strong>{value ? value.value_text : '—'}</strong>
        </p>
        {!mayOperate(me) && <p class="warn">Your role ({me.roles.join(', ')}) may not operate; the hub will refuse.</p>}
        <fieldset disabled={stage !== 'choose'}>
          <legend>1. Choose</legend>
          {point.command_kind === 'setpoint' ? (
            <input type="number" step="any" value={setpoint} onInput={(e) => setSetpoint(e.currentTarget.value)} data-testid="setpoint" />
          ) : (
            options.map((o, i) => (
              <label key={o.label}>
                <input type="radio" name="cmd" checked={choice === i} onChange={() => setChoice(i)} /> {o.label}
              </label>
            ))
          )}
          <button onClick={select} data-testid="select-button">
            2. Select
          </button>
        </fieldset>
        <fieldset disabled={stage !== 'selected'}>
          <legend>3. Confirm</legend>
          <span>The device has reserved the output. Execute?</span>
          <button onClick={execute} class="danger" data-testid="execute-button">
            Execute
          </button>
          <button onClick={cancel}>Cancel</button>
        </fieldset>
        {signing && (
          <div class="signing" data-testid="sign-summary" data-action={signing.prepared.action} data-signed={String(signing.signed)}>
            <h3>{signing.signed ? 'You signed' : 'You are signing'}</h3>
            <dl>
              <dt>Point</dt>
              <dd data-testid="sign-point">{signing.prepared.point}</dd>
              <dt>Action</dt>
              <dd data-testid="sign-action">{signing.prepared.action}</dd>
              <dt>Value</dt>
              <dd data-testid="sign-value">{String(signing.prepared.value.value)}</dd>
              <dt>Target edge</dt>
              <dd data-testid="sign-target">{signing.prepared.target}</dd>
              <dt>As</dt>
              <dd>
                {signing.prepared.issuer} ({signing.prepared.role})
              </dd>
              <dt>Valid until</dt>
              <dd>{new Date(signing.prepared.expires_at).toLocaleTimeString(undefined, { hour12: false })}</dd>
              <dt>Digest (SHA-256)</dt>
              <dd class="digest" data-testid="sign-digest">
                {signing.digest}
              </dd>
            </dl>
          </div>
        )}
        <div class="answer" data-testid="command-answer" data-state={command?.state ?? (error ? 'error' : '')}>
          {command && (
            <p>
              Command {command.id} ({command.action}): <strong data-testid="command-state">{command.state}</strong>
              {command.refused_by && ` — refused by ${command.refused_by}`}
              {command.outcome_reason && `: ${command.outcome_reason}`}
            </p>
          )}
          {error && (
            <p class="error" role="alert" data-testid="command-error">
              {error}
            </p>
          )}
          <ol class="log">
            {log.map((l, i) => (
              <li key={i}>{l}</li>
            ))}
          </ol>
        </div>
        <button onClick={onClose}>Close</button>
      </div>
    </div>
  );
}
