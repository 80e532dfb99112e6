// The evidence of one value, re-checked here with WebCrypto: the hub's verdict is shown beside
// the browser's own, never instead of it.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError } from './api';
import { verifyEvidence, type EvidenceDoc, type EvidenceReport } from './evidence';

export function EvidenceView({ point, onClose }: { point: string; onClose: () => void }) {
  const [doc, setDoc] = useState<EvidenceDoc | null>(null);
  const [report, setReport] = useState<EvidenceReport | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let live = true;
    api
      .evidence(point)
      .then(async (d) => {
        const ev = d as EvidenceDoc;
        const r = await verifyEvidence(ev, point);
        if (live) {
          setDoc(ev);
          setReport(r);
        }
      })
      .catch((e) => live && setError(e instanceof ApiError ? `${e.status} ${e.code}: ${e.message}` : String(e)));
    return () => {
      live = false;
    };
  }, [point]);

  return (
    <div class="modal" role="dialog" aria-modal="true" aria-label={`Evidence for ${point}`} data-testid="evidence-view">
      <div class="modal-body wide">
        <h2>Evidence for {point}</h2>
        {error && <p class="error" role="alert">{error}</p>}
        {!report && !error && <p>Checking in the browser…</p>}
        {report && doc && (
          <>
            <p class={`verdict verdict-${report.verdict}`} data-testid="browser-verdict" data-verdict={report.verdict}>
              Browser check (WebCrypto): <strong>{report.verdict}</strong>
            </p>
            <p class="hub-verdict">
              Hub says: {doc.hub_verdict.status}
              {doc.hub_verdict.reason && ` — ${doc.hub_verdict.reason}`}
            </p>
            {report.record && (
              <p>
                Signed in the field: point {report.record.point}, seq {String(report.record.seq)}, value <strong>{report.record.value}</strong>
                {report.record.sourceTimeNs !== null && `, source time ${new Date(Number(report.record.sourceTimeNs / 1_000_000n)).toISOString()}`}
              </p>
            )}
            <ol class="steps">
              {report.steps.map((s) => (
                <li key={s.id} class={`step step-${s.status}`} data-testid="evidence-step" data-step={s.id} data-status={s.status}>
                  <span class="mark">{s.status === 'pass' ? '✔' : s.status === 'fail' ? '✘' : '…'}</span> {s.title}
                  <div class="detail">{s.detail}</div>
                </li>
              ))}
            </ol>
            <details>
              <summary>Raw evidence</summary>
              <pre>{JSON.stringify(doc, null, 2)}</pre>
            </details>
          </>
        )}
        <button onClick={onClose} data-testid="evidence-close">
          Close
        </button>
      </div>
    </div>
  );
}
