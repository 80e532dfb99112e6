// The browser's evidence check against documents made by the Rust implementation
// (crates/web/tests/evidence_fixture.rs), and its RFC 9162 inclusion verifier against the
// transparency-dev test vectors in ../shared/testdata/merkle.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeHeader, fromHex, leafHash, rootFromInclusionProof, toHex, verifyEvidence, type EvidenceDoc } from '../src/evidence';

interface Case {
  name: string;
  expect: 'verified' | 'failed';
  failing_steps: string[];
  doc: EvidenceDoc;
}
const fixturePath = process.env.GRIDTRUST_EVIDENCE_FIXTURE ?? join(__dirname, 'fixtures', 'evidence.json');
const fixture = JSON.parse(readFileSync(fixturePath, 'utf8')) as { cases: Case[]; pending_log: EvidenceDoc };

describe(`evidence made by the Rust code (${fixturePath})`, () => {
  it('has valid and tampered cases', () => {
    expect(fixture.cases.filter((c) => c.expect === 'verified').length).toBeGreaterThanOrEqual(5);
    expect(fixture.cases.filter((c) => c.expect === 'failed').length).toBeGreaterThanOrEqual(15);
  });

  for (const c of fixture.cases) {
    it(`${c.expect === 'verified' ? 'accepts' : 'refuses'}: ${c.name}`, async () => {
      const report = await verifyEvidence(c.doc);
      const failing = report.steps.filter((s) => s.status === 'fail').map((s) => s.id);
      expect(report.steps).toHaveLength(9);
      expect(failing.sort()).toEqual([...c.failing_steps].sort());
      expect(report.verdict).toBe(c.expect);
      if (c.expect === 'verified') expect(report.steps.every((s) => s.status === 'pass')).toBe(true);
      for (const s of report.steps.filter((x) => x.status === 'fail')) expect(s.detail.length).toBeGreaterThan(10);
    });
  }

  it('refuses valid evidence of another point than the one asked about', async () => {
    const doc = fixture.cases[0].doc;
    const report = await verifyEvidence(doc, `${doc.point}x`);
    expect(report.verdict).toBe('failed');
    expect(report.steps.filter((s) => s.status === 'fail').map((s) => s.id)).toEqual(['record']);
    expect((await verifyEvidence(doc, doc.point)).verdict).toBe('verified');
  });

  it('decodes the signed record it checked', async () => {
    const report = await verifyEvidence(fixture.cases[0].doc);
    expect(report.record?.point).toBe(fixture.cases[0].doc.point);
    expect(report.record?.seq).toBe(BigInt(fixture.cases[0].doc.seq));
  });

  it('reports log steps as pending, not passed, when no checkpoint covers the batch yet', async () => {
    const report = await verifyEvidence(fixture.pending_log);
    expect(report.verdict).toBe('incomplete');
    expect(report.steps.filter((s) => s.status === 'skipped').map((s) => s.id)).toEqual(['log-entry', 'log-inclusion', 'checkpoint', 'checkpoint-signature']);
    expect(report.steps.filter((s) => s.status === 'pass')).toHaveLength(5);
  });

  it('never throws on documents with missing or mistyped fields', async () => {
    const broken = [{}, { record: null }, { ...fixture.cases[0].doc, batch: { header_hex: 5 } }, { ...fixture.cases[0].doc, log: { checkpoint: {} } }];
    for (const b of broken) {
      const report = await verifyEvidence(b as unknown as EvidenceDoc);
      expect(report.verdict).toBe('failed');
    }
  });

  it('reads the header fields at their offsets', () => {
    const doc = fixture.cases[0].doc;
    const h = decodeHeader(fromHex(doc.batch.header_hex, 'header'));
    expect(h.edgeId).toBe(doc.edge);
    expect(toHex(h.root)).toBe(doc.batch.root_hex);
    expect(h.count).toBe(doc.record_proof.tree_size);
  });
});

// ---------------------------------------------------------------- RFC 9162 vectors

const vectors = join(__dirname, '..', '..', '..', 'shared', 'testdata', 'merkle', 'inclusion');
const b64 = (s: string) => Uint8Array.from(Buffer.from(s, 'base64'));

describe.skipIf(!existsSync(vectors))('RFC 9162 inclusion vectors (transparency-dev)', () => {
  const files = existsSync(vectors)
    ? (readdirSync(vectors, { recursive: true }) as string[]).filter((f) => f.endsWith('.json')).sort()
    : [];
  it('are present', () => expect(files.length).toBeGreaterThan(50));
  for (const f of files) {
    const v = JSON.parse(readFileSync(join(vectors, f), 'utf8')) as {
      leafIdx: number;
      treeSize: number;
      root: string | null;
      leafHash: string | null;
      proof: string[] | null;
      wantErr: boolean;
    };
    it(`${v.wantErr ? 'refuses' : 'accepts'} ${f}`, async () => {
      let ok: boolean;
      try {
        const root = await rootFromInclusionProof(b64(v.leafHash ?? ''), v.leafIdx, v.treeSize, (v.proof ?? []).map(b64));
        ok = toHex(root) === toHex(b64(v.root ?? ''));
      } catch {
        ok = false;
      }
      expect(ok).toBe(!v.wantErr);
    });
  }
  it('hashes a leaf with the 0x00 prefix', async () => {
    // RFC 6962 test tree: leaf 0 is the empty string.
    expect(toHex(await leafHash(new Uint8Array()))).toBe('6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d');
  });
});
