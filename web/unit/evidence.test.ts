// The browser's evidence check against documents made by the Rust implementation
// (crates/web/tests/evidence_fixture.rs), and its RFC 9162 inclusion verifier against the
// transparency-dev test vectors in ../shared/testdata/merkle.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, decodeHeader, decodeLoggedHeader, decodeRecord, EvidenceError, fromHex, leafHash, rootFromInclusionProof, toHex, verifyEvidence, type EvidenceDoc } from '../src/evidence';

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

  // A small seeded generator, so a failure names a reproducible case.
  const rng = (seed: number) => () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 32;
  };

  it('refuses every single-bit change in any signed or proven byte string', async () => {
    const random = rng(9162);
    const valid = fixture.cases.filter((c) => c.expect === 'verified');
    const hexFields = (d: EvidenceDoc): [string, () => string, (v: string) => void][] => [
      ['record', () => d.record.canonical_hex, (v) => (d.record.canonical_hex = v)],
      ['header', () => d.batch.header_hex, (v) => (d.batch.header_hex = v)],
      ['root', () => d.batch.root_hex, (v) => (d.batch.root_hex = v)],
      ['signature', () => d.batch.signature_hex, (v) => (d.batch.signature_hex = v)],
      ['signing input', () => d.batch.signing_input_hex, (v) => (d.batch.signing_input_hex = v)],
      ['log leaf', () => d.log!.leaf_hex, (v) => (d.log!.leaf_hex = v)],
      ['checkpoint bytes', () => d.log!.checkpoint.signed_hex, (v) => (d.log!.checkpoint.signed_hex = v)],
      ['checkpoint root', () => d.log!.checkpoint.root_hex, (v) => (d.log!.checkpoint.root_hex = v)],
      ['checkpoint signature', () => d.log!.checkpoint.signature_hex, (v) => (d.log!.checkpoint.signature_hex = v)],
      ...d.record_proof.path_hex.map((_, i) => [`record path ${i}`, () => d.record_proof.path_hex[i], (v: string) => (d.record_proof.path_hex[i] = v)] as [string, () => string, (v: string) => void]),
      ...d.log!.path_hex.map((_, i) => [`log path ${i}`, () => d.log!.path_hex[i], (v: string) => (d.log!.path_hex[i] = v)] as [string, () => string, (v: string) => void]),
    ];
    for (let i = 0; i < 300; i++) {
      const doc = structuredClone(valid[Math.floor(random() * valid.length)].doc);
      const fields = hexFields(doc);
      const [name, get, set] = fields[Math.floor(random() * fields.length)];
      const bytes = fromHex(get(), name);
      const at = Math.floor(random() * bytes.length);
      bytes[at] ^= 1 << Math.floor(random() * 8);
      set(toHex(bytes));
      const report = await verifyEvidence(doc);
      expect(report.verdict, `bit flip in ${name} byte ${at} (iteration ${i})`).toBe('failed');
    }
  });

  it('decoders refuse arbitrary bytes with their own error, never another exception', () => {
    const random = rng(6962);
    const decoders = [decodeRecord, decodeHeader, decodeLoggedHeader, decodeCheckpoint];
    for (let i = 0; i < 2000; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(random() * 120) }, () => Math.floor(random() * 256));
      if (random() < 0.5 && bytes.length > 0) bytes[0] = 1; // get past the version byte
      for (const decode of decoders) {
        try {
          decode(bytes);
        } catch (e) {
          expect(e, `${decode.name} on ${toHex(bytes)}`).toBeInstanceOf(EvidenceError);
        }
      }
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
