// A person's passkeys: register one (its public key goes to the hub as a pending enrolment) and
// see whether a SECADM approved it. A SECADM also sees everyone's pending enrolments and approves
// them with the operator CA's certificate for that key (PEM); a demo hub's development CA issues
// it when none is pasted.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type Enrolment, type Me, type Role } from './api';
import { registerPasskey } from './passkey';

const message = (e: unknown) => (e instanceof ApiError ? `${e.status} ${e.code}: ${e.message}` : String(e));

export function PasskeyDialog({ me, onClose }: { me: Me; onClose: () => void }) {
  const secadm = me.roles.includes('SECADM');
  const [mine, setMine] = useState<Enrolment[]>([]);
  const [all, setAll] = useState<Enrolment[]>([]);
  const [pem, setPem] = useState<Record<number, string>>({});
  const [error, setError] = useState<string | null>(null);
  const operating = me.roles.filter((r): r is Role => r === 'OPERATOR' || r === 'ENGINEER');
  const [role, setRole] = useState<Role>(operating[0] ?? me.roles[0] ?? 'VIEWER');

  const reload = async () => {
    try {
      setMine(await api.enrolments(false));
      if (secadm) setAll(await api.enrolments(true));
    } catch (e) {
      setError(message(e));
    }
  };
  useEffect(() => {
    void reload();
  }, []);

  const register = async () => {
    setError(null);
    try {
      await registerPasskey(me.username, role);
    } catch (e) {
      setError(message(e));
    }
    await reload();
  };
  const approve = async (id: number) => {
    setError(null);
    try {
      await api.approve(id, pem[id]?.trim() || undefined);
    } catch (e) {
      setError(message(e));
    }
    await reload();
  };

  return (
    <div class="modal" role="dialog" aria-modal="true" aria-label="Passkeys" data-testid="passkey-dialog">
      <div class="modal-body">
        <h2>Passkeys</h2>
        <p>Commands are signed with your passkey. A security administrator approves a new passkey with a certificate from the operator CA.</p>
        <table>
          <tbody>
            {mine.map((e) => (
              <tr key={e.id} data-testid="my-enrolment" data-state={e.state}>
                <td>#{e.id}</td>
                <td>{e.role}</td>
                <td>{e.state}</td>
                <td>{e.approved_by ? `by ${e.approved_by}` : ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <label>
          Role{' '}
          <select value={role} onChange={(e) => setRole(e.currentTarget.value as Role)}>
            {me.roles.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>{' '}
        <button onClick={register} data-testid="register-passkey">
          Register a passkey
        </button>
        {secadm && (
          <>
            <h3>Pending enrolments</h3>
            <ul>
              {all
                .filter((e) => e.state === 'pending')
                .map((e) => (
                  <li key={e.id} data-testid="pending-enrolment" data-name={e.name}>
                    #{e.id} {e.name} as {e.role}, credential {e.credential_id.slice(0, 12)}…
                    <textarea placeholder="Operator certificate (PEM) for this key" value={pem[e.id] ?? ''} onInput={(ev) => setPem({ ...pem, [e.id]: ev.currentTarget.value })} />
                    <button onClick={() => approve(e.id)} data-testid="approve-enrolment">
                      Approve
                    </button>
                  </li>
                ))}
            </ul>
          </>
        )}
        {error && (
          <p class="error" role="alert" data-testid="passkey-error">
            {error}
          </p>
        )}
        <button onClick={onClose}>Close</button>
      </div>
    </div>
  );
}
