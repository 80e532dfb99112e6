// In-browser re-check of a value's evidence (GET /api/evidence), with WebCrypto only.
//
// The hub's verdict is displayed but never trusted: every step below recomputes from the bytes
// the edge and the hub signed. The formats are those of crates/trust and crates/model:
//   record     canonical record v1 (gridtrust_model::canonical), leaf = SHA-256(0x00 || record)
//   header     canonical batch header v1 (gridtrust_trust::evidence), signed as
//              "gridtrust/v1/batch-header\0" || header with ECDSA P-256/SHA-256 (raw r || s)
//   log leaf   LogEntry v1 kind 1 = sealed header (header + the edge's signature)
//   checkpoint canonical checkpoint v1, signed as "gridtrust/v1/checkpoint\0" || checkpoint
// Merkle proofs are RFC 9162 §2.1.3.2 inclusion proofs, the algorithm of crates/trust/src/merkle.rs.

/** The /api/evidence document (see api-contract.md). */
export interface EvidenceDoc {
  point: string;
  edge: string;
  seq: number;
  record: { canonical_hex: string };
  batch: {
    batch_seq: number;
    header_hex: string;
    root_hex: string;
    record_count: number;
    first_seq: number;
    signature_hex: string;
    signing_input_hex: string;
  };
  record_proof: { leaf_index: number; tree_size: number; path_hex: string[] };
  signer: { certificate_der_b64: string; spki_der_b64: string; subject: string; valid: boolean };
  log: null | {
    leaf_hex: string;
    leaf_index: number;
    tree_size: number;
    path_hex: string[];
    checkpoint: {
      size: number;
      root_hex: string;
      timestamp: string;
      signed_hex: string;
      signature_hex: string;
      hub_spki_der_b64: string;
    };
  };
  hub_verdict: { status: string; reason: string | null };
}

/** The outcome of one check, shown as one line of the evidence view. */
export interface Step {
  id: StepId;
  title: string;
  status: 'pass' | 'fail' | 'skipped';
  detail: string;
}

export type StepId =
  | 'record'
  | 'record-inclusion'
  | 'header'
  | 'signature'
  | 'signer-certificate'
  | 'log-entry'
  | 'log-inclusion'
  | 'checkpoint'
  | 'checkpoint-signature';

/** What the signed record says, decoded in the browser for display beside the hub's claim. */
export interface SignedRecord {
  seq: bigint;
  point: string;
  value: string;
  qualityBits: number;
  sourceTimeNs: bigint | null;
  receivedAtNs: bigint;
}

/** All steps, and the verdict: verified only when every step passed. */
export interface EvidenceReport {
  verdict: 'verified' | 'failed' | 'incomplete';
  steps: Step[];
  record: SignedRecord | null;
}

export const HEADER_SIGNING_CONTEXT = new TextEncoder().encode('gridtrust/v1/batch-header\0');
export const CHECKPOINT_SIGNING_CONTEXT = new TextEncoder().encode('gridtrust/v1/checkpoint\0');

/** Why a check failed; the message is shown to the operator. */
export class EvidenceError extends Error {}

function fail(message: string): never {
  throw new EvidenceError(message);
}

// ---------------------------------------------------------------- bytes

/** Strict hex: even length, hex digits only (either case). */
export function fromHex(hex: string, what: string): Uint8Array {
  if (typeof hex !== 'string') fail(`${what} is not a hex string`);
  if (hex.length % 2 !== 0) fail(`${what} has an odd number of hex digits (${hex.length})`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    const pair = hex.slice(2 * i, 2 * i + 2);
    if (!/^[0-9a-fA-F]{2}$/.test(pair)) fail(`${what} has a non-hex character at position ${2 * i}`);
    out[i] = parseInt(pair, 16);
  }
  return out;
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function fromBase64(b64: string, what: string): Uint8Array {
  if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) {
    fail(`${what} is not base64`);
  }
  const bin = atob(b64);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

/** A bounds-checked cursor that names the field it ran out in. */
class Reader {
  pos = 0;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {}
  take(n: number, field: string): Uint8Array {
    if (this.pos + n > this.bytes.length) fail(`${this.what} ends at byte ${this.bytes.length} while reading ${field}`);
    const s = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return s;
  }
  u8(field: string): number {
    return this.take(1, field)[0];
  }
  u16(field: string): number {
    const b = this.take(2, field);
    return (b[0] << 8) | b[1];
  }
  u32(field: string): number {
    return new DataView(this.copy(4, field)).getUint32(0);
  }
  u64(field: string): bigint {
    return new DataView(this.copy(8, field)).getBigUint64(0);
  }
  i64(field: string): bigint {
    return new DataView(this.copy(8, field)).getBigInt64(0);
  }
  copy(n: number, field: string): ArrayBuffer {
    return this.take(n, field).slice().buffer;
  }
  /** Unsigned LEB128 in its shortest form (the log and checkpoint encodings). */
  len(field: string): number {
    let value = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.u8(field);
      value += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) fail(`${this.what} field ${field} is not in its shortest form`);
        return value;
      }
    }
    fail(`${this.what} field ${field} is longer than this viewer accepts`);
  }
  field(field: string): Uint8Array {
    return this.take(this.len(field), field);
  }
  /** `n` bytes of text: ASCII only (ids), or any valid UTF-8. */
  text(n: number, field: string, charset: 'ascii' | 'utf-8'): string {
    const bytes = this.take(n, field);
    if (charset === 'ascii' && bytes.some((b) => b > 0x7e || b < 0x20)) fail(`${this.what} field ${field} is not printable ASCII`);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      fail(`${this.what} field ${field} is not valid UTF-8`);
    }
  }
  finish(): void {
    const left = this.bytes.length - this.pos;
    if (left !== 0) fail(`${left} bytes follow the end of the ${this.what}`);
  }
}

// ---------------------------------------------------------------- hashing (RFC 9162)

async function sha256(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest('SHA-256', data));
}

/** leaf = SHA-256(0x00 || data) */
export function leafHash(data: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(Uint8Array.of(0), data));
}

function nodeHash(left: Uint8Array, right: Uint8Array): Promise<Uint8Array> {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/**
 * The root an RFC 9162 §2.1.3.2 inclusion proof leads to for `leaf` at `index` in a tree of
 * `size` leaves; throws when the proof has the wrong shape. BigInt throughout: JavaScript's
 * bitwise operators are 32-bit.
 */
export async function rootFromInclusionProof(leaf: Uint8Array, index: number, size: number, proof: Uint8Array[]): Promise<Uint8Array> {
  for (const [name, v] of [['leaf index', index], ['tree size', size]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) fail(`${name} ${v} is not a non-negative integer`);
  }
  if (leaf.length !== 32) fail(`leaf hash has ${leaf.length} bytes, a SHA-256 hash has 32`);
  proof.forEach((p, i) => {
    if (p.length !== 32) fail(`proof element ${i} has ${p.length} bytes, a SHA-256 hash has 32`);
  });
  if (index >= size) fail(`leaf index ${index} is outside a tree of size ${size}`);
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) fail(`proof has ${proof.length} hashes, more than a tree of size ${size} needs for leaf ${index}`);
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) fail(`proof has ${proof.length} hashes, fewer than a tree of size ${size} needs for leaf ${index}`);
  return r;
}

/** Verifies an inclusion proof against `root`, throwing with the reason when it does not hold. */
export async function verifyInclusion(leaf: Uint8Array, index: number, size: number, proof: Uint8Array[], root: Uint8Array): Promise<void> {
  const got = await rootFromInclusionProof(leaf, index, size, proof);
  if (!equal(got, root)) fail(`the proof leads to root ${toHex(got).slice(0, 16)}…, not ${toHex(root).slice(0, 16)}…`);
}

// ---------------------------------------------------------------- formats

const DOUBLE_NAMES = ['intermediate', 'off', 'on', 'indeterminate'];

/** Decodes a canonical record v1 (gridtrust_model::canonical) strictly. */
export function decodeRecord(bytes: Uint8Array): SignedRecord {
  const r = new Reader(bytes, 'record');
  const version = r.u8('version');
  if (version !== 1) fail(`record format version ${version} is not supported`);
  const seq = r.u64('seq');
  const idLen = r.u16('point id length');
  if (idLen === 0 || idLen > 255) fail(`record point id length ${idLen} is not in 1..=255`);
  const point = r.text(idLen, 'point id', 'ascii');
  const tag = r.u8('value tag');
  let value: string;
  switch (tag) {
    case 0x01:
      value = String(flag(r, 'single value'));
      break;
    case 0x02: {
      const code = r.u8('double value');
      if (code > 3) fail(`record double value ${code} is not in 0..=3`);
      value = DOUBLE_NAMES[code];
      break;
    }
    case 0x03: {
      const pos = new DataView(r.copy(1, 'step position')).getInt8(0);
      value = `step ${pos}${flag(r, 'step transient') ? ' (transient)' : ''}`;
      break;
    }
    case 0x04:
      value = `0x${r.u32('bitstring').toString(16).padStart(8, '0')}`;
      break;
    case 0x05:
      value = String(new DataView(r.copy(2, 'normalized')).getInt16(0) / 32768);
      break;
    case 0x06:
      value = String(new DataView(r.copy(4, 'scaled')).getInt32(0));
      break;
    case 0x07:
      value = String(Math.fround(new DataView(r.copy(4, 'float')).getFloat32(0)));
      break;
    case 0x08: {
      const v = new DataView(r.copy(4, 'counter value')).getInt32(0);
      r.take(3, 'counter flags');
      value = String(v);
      break;
    }
    default:
      fail(`record value tag ${tag} is unknown`);
  }
  const qualityBits = r.u16('quality');
  let sourceTimeNs: bigint | null = null;
  if (flag(r, 'source time present')) {
    sourceTimeNs = r.i64('source time');
    r.take(2, 'time quality');
  }
  const receivedAtNs = r.i64('received at');
  r.finish();
  return { seq, point, value, qualityBits, sourceTimeNs, receivedAtNs };
}

function flag(r: Reader, field: string): boolean {
  const b = r.u8(field);
  if (b > 1) fail(`record field ${field} holds ${b}, not 0 or 1`);
  return b === 1;
}

/** The fields of a canonical batch header v1 (gridtrust_trust::evidence). */
export interface Header {
  edgeId: string;
  batchSeq: bigint;
  firstSeq: bigint;
  count: number;
  root: Uint8Array;
  prevHeaderHash: Uint8Array;
  closedAtNs: bigint;
}

export function decodeHeader(bytes: Uint8Array): Header {
  const r = new Reader(bytes, 'batch header');
  const version = r.u8('version');
  if (version !== 1) fail(`batch header format version ${version} is not supported`);
  const idLen = r.u8('edge id length');
  if (idLen === 0 || idLen > 64) fail(`batch header edge id length ${idLen} is not in 1..=64`);
  const edgeId = r.text(idLen, 'edge id', 'ascii');
  const batchSeq = r.u64('batch seq');
  const firstSeq = r.u64('first seq');
  const count = r.u32('count');
  if (count === 0) fail('batch header count is 0');
  const root = r.take(32, 'merkle root');
  const prevHeaderHash = r.take(32, 'previous header hash');
  const closedAtNs = r.i64('closed at');
  r.finish();
  return { edgeId, batchSeq, firstSeq, count, root, prevHeaderHash, closedAtNs };
}

/** A log entry of kind 1: the sealed header as the hub logged it (header + edge signature). */
export interface LoggedHeader {
  header: Uint8Array;
  algorithm: string;
  signerId: Uint8Array;
  signature: Uint8Array;
}

export function decodeLoggedHeader(bytes: Uint8Array): LoggedHeader {
  const entry = new Reader(bytes, 'log entry');
  const version = entry.u8('version');
  if (version !== 1) fail(`log entry format version ${version} is not supported`);
  const kind = entry.u8('kind');
  if (kind !== 1) fail(`log entry is of kind ${kind}, not a batch header (1)`);
  const sealed = entry.field('sealed header');
  entry.finish();
  const r = new Reader(sealed, 'sealed header');
  const header = r.take(r.u16('header length'), 'header');
  if (r.u8('signature flag') !== 1) fail('the logged header carries no signature');
  const algorithm = r.text(r.u8('algorithm length'), 'algorithm', 'ascii');
  const signerId = r.take(32, 'signer');
  const signature = r.take(r.u8('signature length'), 'signature');
  r.finish();
  return { header, algorithm, signerId, signature };
}

/** The fields of a canonical checkpoint v1 (gridtrust_trust::checkpoint). */
export interface CheckpointFields {
  logId: string;
  treeSize: bigint;
  root: Uint8Array;
  timestampNs: bigint;
}

export function decodeCheckpoint(bytes: Uint8Array): CheckpointFields {
  const r = new Reader(bytes, 'checkpoint');
  const version = r.u8('version');
  if (version !== 1) fail(`checkpoint format version ${version} is not supported`);
  const log = r.field('log id');
  const logId = new Reader(log, 'checkpoint').text(log.length, 'log id', 'utf-8');
  const treeSize = r.u64('tree size');
  const root = r.take(32, 'root');
  const timestampNs = r.i64('timestamp');
  r.finish();
  return { logId, treeSize, root, timestampNs };
}

// ---------------------------------------------------------------- signatures

async function verifyEcdsa(spkiDer: Uint8Array<ArrayBuffer>, signature: Uint8Array<ArrayBuffer>, message: Uint8Array<ArrayBuffer>, whose: string): Promise<void> {
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey('spki', spkiDer, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
  } catch (e) {
    fail(`${whose} public key is not a P-256 SubjectPublicKeyInfo (${String(e)})`);
  }
  if (signature.length !== 64) fail(`${whose} signature has ${signature.length} bytes, ECDSA P-256 r || s has 64`);
  const ok = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, key, signature, message);
  if (!ok) fail(`${whose} signature does not match the signed bytes and key`);
}

// ---------------------------------------------------------------- the whole check

const TITLES: Record<StepId, string> = {
  record: 'Record bytes are this point and sequence number',
  'record-inclusion': 'Record is in the batch (Merkle inclusion to the batch root)',
  header: 'Batch root is the one inside the signed header',
  signature: "Edge's ECDSA signature over the header",
  'signer-certificate': "Signing key is the certificate's key",
  'log-entry': 'Transparency log entry is this signed header',
  'log-inclusion': 'Log entry is under the checkpoint (Merkle inclusion to the checkpoint root)',
  checkpoint: 'Checkpoint bytes state this size and root',
  'checkpoint-signature': "Hub's ECDSA signature over the checkpoint",
};

/**
 * Re-checks every link from the record's bytes to the hub-signed checkpoint. Each step runs
 * on its own (one failure does not hide the others) and says what it found. `askedFor` is the
 * point the viewer asked about: evidence of another point, however valid, does not pass.
 */
export async function verifyEvidence(doc: EvidenceDoc, askedFor?: string): Promise<EvidenceReport> {
  const steps: Step[] = [];
  let record: SignedRecord | null = null;
  let header: Header | null = null;
  const run = async (id: StepId, check: () => Promise<string> | string): Promise<boolean> => {
    try {
      steps.push({ id, title: TITLES[id], status: 'pass', detail: await check() });
      return true;
    } catch (e) {
      const detail = e instanceof EvidenceError ? e.message : `unreadable evidence: ${String(e)}`;
      steps.push({ id, title: TITLES[id], status: 'fail', detail });
      return false;
    }
  };
  const skip = (id: StepId, detail: string) => steps.push({ id, title: TITLES[id], status: 'skipped', detail });

  const recordBytes = await guard(() => fromHex(doc.record.canonical_hex, 'record'));
  await run('record', () => {
    if (recordBytes instanceof EvidenceError) throw recordBytes;
    record = decodeRecord(recordBytes);
    if (record.point !== doc.point) fail(`the signed record is of point ${record.point}, not ${doc.point}`);
    if (askedFor !== undefined && record.point !== askedFor) fail(`this is evidence for point ${record.point}, not for ${askedFor} that was asked about`);
    if (record.seq !== BigInt(doc.seq)) fail(`the signed record has seq ${record.seq}, not ${doc.seq}`);
    return `point ${record.point}, seq ${record.seq}, value ${record.value}`;
  });

  await run('record-inclusion', async () => {
    if (recordBytes instanceof EvidenceError) throw recordBytes;
    const p = doc.record_proof;
    const path = p.path_hex.map((h, i) => fromHex(h, `record proof element ${i}`));
    await verifyInclusion(await leafHash(recordBytes), p.leaf_index, p.tree_size, path, fromHex(doc.batch.root_hex, 'batch root'));
    return `leaf ${p.leaf_index} of ${p.tree_size}, ${path.length} hashes to root ${doc.batch.root_hex.slice(0, 16)}…`;
  });

  const headerBytes = await guard(() => fromHex(doc.batch.header_hex, 'batch header'));
  await run('header', () => {
    if (headerBytes instanceof EvidenceError) throw headerBytes;
    header = decodeHeader(headerBytes);
    if (toHex(header.root) !== doc.batch.root_hex.toLowerCase()) fail('the header signs a different Merkle root than the proof leads to');
    if (header.edgeId !== doc.edge) fail(`the header is from edge ${header.edgeId}, not ${doc.edge}`);
    const index = BigInt(doc.seq) - header.firstSeq;
    if (index < 0n || index >= BigInt(header.count)) fail(`seq ${doc.seq} is not in the header's records ${header.firstSeq}..${header.firstSeq + BigInt(header.count)}`);
    if (BigInt(doc.record_proof.leaf_index) !== index || doc.record_proof.tree_size !== header.count) {
      fail(`the proof is for leaf ${doc.record_proof.leaf_index} of ${doc.record_proof.tree_size}, the header puts seq ${doc.seq} at ${index} of ${header.count}`);
    }
    return `edge ${header.edgeId}, batch ${header.batchSeq}, records ${header.firstSeq}..${header.firstSeq + BigInt(header.count) - 1n}`;
  });

  const signingInput = headerBytes instanceof EvidenceError ? null : concat(HEADER_SIGNING_CONTEXT, headerBytes);
  await run('signature', async () => {
    if (signingInput === null) throw headerBytes;
    if (toHex(signingInput) !== doc.batch.signing_input_hex.toLowerCase()) {
      fail('the signing input sent by the hub is not the batch-header context followed by the header');
    }
    await verifyEcdsa(
      fromBase64(doc.signer.spki_der_b64, 'signer key') as Uint8Array<ArrayBuffer>,
      fromHex(doc.batch.signature_hex, 'signature') as Uint8Array<ArrayBuffer>,
      signingInput,
      "the edge's",
    );
    return `verified with the key of ${doc.signer.subject}`;
  });

  await run('signer-certificate', () => {
    const cert = fromBase64(doc.signer.certificate_der_b64, 'signer certificate');
    const spki = fromBase64(doc.signer.spki_der_b64, 'signer key');
    if (indexOf(cert, spki) < 0) fail('the key used is not the one in the signer certificate');
    return `key found in the certificate of ${doc.signer.subject} (chain and revocation checked by the hub: ${doc.signer.valid ? 'valid' : 'NOT valid'})`;
  });

  const log = doc.log;
  if (log === null) {
    for (const id of ['log-entry', 'log-inclusion', 'checkpoint', 'checkpoint-signature'] as const) {
      skip(id, 'the batch is not yet under a signed checkpoint');
    }
  } else {
    const leafBytes = await guard(() => fromHex(log.leaf_hex, 'log leaf'));
    await run('log-entry', async () => {
      if (leafBytes instanceof EvidenceError) throw leafBytes;
      const logged = decodeLoggedHeader(leafBytes);
      if (logged.algorithm !== 'ecdsa-p256-sha256') fail(`the logged signature is of algorithm ${logged.algorithm}, not ecdsa-p256-sha256`);
      if (headerBytes instanceof EvidenceError || !equal(logged.header, headerBytes)) fail('the log entry holds a different header');
      if (!equal(logged.signature, fromHex(doc.batch.signature_hex, 'signature'))) fail('the log entry holds a different signature');
      const certId = await sha256(fromBase64(doc.signer.certificate_der_b64, 'signer certificate') as Uint8Array<ArrayBuffer>);
      if (!equal(logged.signerId, certId)) fail('the logged signature names another certificate than the signer certificate');
      return `entry ${log.leaf_index}: the header and signature above, naming certificate ${toHex(certId).slice(0, 16)}…`;
    });
    const cpBytes = await guard(() => fromHex(log.checkpoint.signed_hex, 'checkpoint'));
    await run('log-inclusion', async () => {
      if (leafBytes instanceof EvidenceError) throw leafBytes;
      const path = log.path_hex.map((h, i) => fromHex(h, `log proof element ${i}`));
      if (log.tree_size !== log.checkpoint.size) fail(`the proof is for a log of ${log.tree_size} entries, the checkpoint covers ${log.checkpoint.size}`);
      await verifyInclusion(await leafHash(leafBytes), log.leaf_index, log.tree_size, path, fromHex(log.checkpoint.root_hex, 'checkpoint root'));
      return `entry ${log.leaf_index} of ${log.tree_size}, ${path.length} hashes to root ${log.checkpoint.root_hex.slice(0, 16)}…`;
    });
    await run('checkpoint', () => {
      if (cpBytes instanceof EvidenceError) throw cpBytes;
      const ctx = cpBytes.subarray(0, CHECKPOINT_SIGNING_CONTEXT.length);
      if (!equal(ctx, CHECKPOINT_SIGNING_CONTEXT)) fail('the signed checkpoint bytes do not start with the checkpoint signing context');
      const cp = decodeCheckpoint(cpBytes.subarray(CHECKPOINT_SIGNING_CONTEXT.length));
      if (cp.treeSize !== BigInt(log.checkpoint.size)) fail(`the signed checkpoint covers ${cp.treeSize} entries, not ${log.checkpoint.size}`);
      if (toHex(cp.root) !== log.checkpoint.root_hex.toLowerCase()) fail('the signed checkpoint states a different root');
      return `log ${cp.logId}, ${cp.treeSize} entries`;
    });
    await run('checkpoint-signature', async () => {
      if (cpBytes instanceof EvidenceError) throw cpBytes;
      await verifyEcdsa(
        fromBase64(log.checkpoint.hub_spki_der_b64, 'hub key') as Uint8Array<ArrayBuffer>,
        fromHex(log.checkpoint.signature_hex, 'checkpoint signature') as Uint8Array<ArrayBuffer>,
        cpBytes as Uint8Array<ArrayBuffer>,
        "the hub's",
      );
      return 'verified with the hub key';
    });
  }

  const failed = steps.some((s) => s.status === 'fail');
  const skipped = steps.some((s) => s.status === 'skipped');
  return { verdict: failed ? 'failed' : skipped ? 'incomplete' : 'verified', steps, record };
}

/** Runs a parse, returning its error instead of throwing, so later steps can report it. */
async function guard<T>(f: () => T): Promise<T | EvidenceError> {
  try {
    return f();
  } catch (e) {
    return e instanceof EvidenceError ? e : new EvidenceError(String(e));
  }
}
