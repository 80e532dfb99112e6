// Quality and trust on every value: what the device said about the value (IEC 61850 quality),
// and whether the hub could check that it came signed from the field.
import type { Trust, Value } from './api';

const TRUST_LABEL: Record<Trust['status'], string> = {
  verified: 'verified in the field',
  unverified: 'unverified',
  failed: 'failed',
};

export function TrustBadge({ trust }: { trust: Trust }) {
  const text = trust.status === 'failed' && trust.reason ? `failed: ${trust.reason}` : TRUST_LABEL[trust.status];
  const title =
    trust.status === 'verified'
      ? 'The edge signature, Merkle root and signer certificate were checked at the hub'
      : trust.status === 'unverified'
        ? 'Evidence is off: this value is not signed in the field'
        : `Verification failed; the value is quarantined and marked invalid${trust.reason ? `: ${trust.reason}` : ''}`;
  return (
    <span class={`badge trust-${trust.status}`} title={title} data-testid="trust-badge" data-trust={trust.status}>
      {text}
    </span>
  );
}

export function QualityBadge({ quality }: { quality: Value['quality'] }) {
  const flags = quality.flags.length > 0 ? ` (${quality.flags.join(', ')})` : '';
  return (
    <span class={`badge quality-${quality.validity}`} data-testid="quality-badge" data-quality={quality.validity}>
      {quality.validity}
      {flags}
    </span>
  );
}
