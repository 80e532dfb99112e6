// Typed access to the hub's REST API (api-contract.md). Same origin only: the session is an
// HttpOnly cookie, and every mutating request carries the CSRF header the hub requires.

export type Role = 'VIEWER' | 'OPERATOR' | 'ENGINEER' | 'INSTALLER' | 'SECADM' | 'SECAUD' | 'RBACMNT';

export interface Me {
  username: string;
  roles: Role[];
  expires_at: string;
}

export interface Equipment {
  id: string;
  name: string;
  kind: string;
  mrid: string | null;
  points: string[];
}
export interface Bay {
  id: string;
  name: string;
  equipment: Equipment[];
}
export interface VoltageLevel {
  id: string;
  name: string;
  nominal_kv: number | null;
  bays: Bay[];
}
export interface Substation {
  id: string;
  name: string;
  mrid: string | null;
  voltage_levels: VoltageLevel[];
}
export interface Model {
  substations: Substation[];
}

/** GET /api/model/diagram: the one-line diagram; y grows downwards. */
export interface XY {
  x: number;
  y: number;
}
export interface OneLineNode {
  id: string;
  name: string | null;
  nominal_kv: number | null;
  busbar: boolean;
  points: XY[];
  energised: boolean;
}
export type OneLineKind =
  | 'BusbarSection'
  | 'Line'
  | 'Transformer'
  | 'Breaker'
  | 'Disconnector'
  | 'LoadBreakSwitch'
  | 'Switch'
  | 'Fuse'
  | 'Load'
  | 'Generator'
  | 'Inverter'
  | 'Injection'
  | 'ShuntCompensator'
  | 'Other';
export interface OneLineSwitch {
  position_point: string | null;
  command_point: string | null;
  state: 'open' | 'closed';
  state_from: 'live' | 'normal' | 'assumed';
}
export interface OneLineEquipment {
  id: string;
  name: string;
  kind: OneLineKind;
  bay: string | null;
  nodes: string[];
  points: XY[];
  rotation_deg: number | null;
  connectors: XY[][];
  point_ids: string[];
  switch: OneLineSwitch | null;
  energised: boolean;
}
export interface OneLine {
  layout: 'dl' | 'automatic';
  diagram_name: string | null;
  nodes: OneLineNode[];
  equipment: OneLineEquipment[];
}

export type CommandKind = 'single' | 'double' | 'step' | 'setpoint';

export interface PointInfo {
  id: string;
  unit: string | null;
  kind: string;
  description: string | null;
  bay: string | null;
  equipment: string | null;
  cim: { measurement: string | null; equipment: string | null; terminal: string | null } | null;
  operable: boolean;
  command_kind: CommandKind | null;
}

export interface Trust {
  status: 'verified' | 'unverified' | 'failed';
  reason: string | null;
}

export interface Value {
  point: string;
  value: number | boolean | string;
  value_text: string;
  quality: { good: boolean; validity: 'good' | 'invalid' | 'questionable' | 'reserved'; flags: string[] };
  source_time: string | null;
  received_at: string;
  edge: string;
  seq: number;
  batch_seq: number | null;
  trust: Trust;
}

export interface Sample {
  t: string;
  min: number;
  max: number;
  avg: number;
  last: number;
  count: number;
}
export interface History {
  point: string;
  from: string;
  to: string;
  bucket_ms: number;
  samples: Sample[];
}

export interface Alarm {
  id: number;
  raised_at: string;
  severity: 'critical' | 'major' | 'minor' | 'info';
  source: string;
  kind: string;
  message: string;
  point: string | null;
  acknowledged: null | { by: string; at: string };
}

/** GET /api/incidents: alarms correlated by time and equipment, with ranked recommendations. */
export interface IncidentAlarm extends Alarm {
  evidence: string | null;
}
export interface IncidentRecommendation {
  rank: number;
  action: 'block-point' | 'reroute' | 'isolate-edge' | 'second-person' | 'dispatch-crew' | 'readmit-edge';
  title: string;
  target: string;
  target_name: string;
  priority: number;
  reason: string;
  effect: string;
}
export interface Incident {
  id: number;
  title: string;
  severity: Alarm['severity'];
  escalated: boolean;
  first_at: string;
  last_at: string;
  acknowledged: null | { by: string; at: string };
  new_since_ack: number;
  alarms: IncidentAlarm[];
  points: string[];
  equipment: { id: string; name: string; bay: string | null; feeders: string[] }[];
  feeders: string[];
  /** Customer sums count only the loads whose model gives a count (`customers` not null). */
  supply: {
    loads: { id: string; name: string; feeder: string; p_mw: number | null; customers: number | null; supplied: boolean }[];
    total_mw: number;
    unsupplied_mw: number;
    total_customers: number;
    unsupplied_customers: number;
  };
  recommendations: IncidentRecommendation[];
  notes: string[];
  /** Signed decisions on it, oldest first, each in the transparency log. */
  decisions: IncidentDecision[];
}
export type DecisionStep = 'acknowledge' | 'execute';
export interface IncidentDecision {
  step: DecisionStep;
  action: IncidentRecommendation['action'] | null;
  target: string | null;
  by: string;
  role: string;
  at: string;
  /** passkey: the person's own signature; console: the hub's console key; hub: only the hub's word. */
  proof: 'passkey' | 'console' | 'hub';
  log_index: number;
  summary: string;
}
/** What the person is asked to sign for a decision (POST /api/incidents/{id}/prepare). */
export interface PreparedDecision {
  incident: number;
  summary: string;
  decision: string;
  challenge: string;
  rp_id: string;
  credential_ids: string[];
}
/** A passkey assertion over a prepared decision; every field base64url. */
export interface DecisionAssertion {
  decision: string;
  credential_id: string;
  authenticator_data: string;
  client_data_json: string;
  signature: string;
}

/** GET /api/estimation: the latest run of the hub's measurement checks (docs/state-estimation.md). */
export interface EstimatedMeasurement {
  point: string | null;
  origin: 'measured' | 'pseudo' | 'zero-injection';
  quantity: string;
  value_pu: number;
  sigma_pu: number;
  estimate_pu: number | null;
  normalised_residual: number | null;
  bad_data: boolean;
  protected: boolean;
}
export type AttackCost = { kind: 'impossible' } | { kind: 'exact'; measurements: number } | { kind: 'at-most'; measurements: number } | { kind: 'not-computed' };
export interface BusEstimate {
  bus: string;
  name: string | null;
  v_pu: number;
  angle_deg: number;
  angle_attack: AttackCost | null;
  magnitude_attack: AttackCost;
}
export interface PointProfile {
  point: string;
  bucket: string;
  samples: number;
  median: number | null;
  mad: number | null;
  last: number;
  score: number | null;
}
export interface EstimationReport {
  ran_at: string;
  duration_ms: number;
  error: string | null;
  passed: boolean;
  settling: boolean;
  objective: number;
  threshold: number | null;
  degrees_of_freedom: number;
  measurements: EstimatedMeasurement[];
  buses: BusEstimate[];
  profiles: PointProfile[];
}

export type CommandAction = 'select' | 'execute' | 'cancel';
export interface CommandValue {
  kind: CommandKind;
  value: boolean | string | number;
}
export interface Command {
  id: number;
  point: string;
  action: CommandAction;
  value: CommandValue;
  issuer: string;
  role: string;
  state: 'pending' | 'confirmed' | 'terminated' | 'refused' | 'timeout';
  outcome_reason: string | null;
  refused_by: null | 'hub' | 'edge' | 'device';
  issued_at: string;
  updated_at: string;
}

/** A 4xx/5xx answer: the hub's error code and sentence. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (method !== 'GET') headers['X-Gridtrust-CSRF'] = '1';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) {
    let code = `http_${res.status}`;
    let message = res.statusText || `HTTP ${res.status}`;
    try {
      const err = (await res.json()) as { error?: string; message?: string };
      code = err.error ?? code;
      message = err.message ?? message;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(res.status, code, message);
  }
  if (res.status === 204) return undefined as T;
  return (await res.json()) as T;
}

const q = encodeURIComponent;

export const api = {
  login: (username: string, password: string) => call<Me>('POST', '/api/login', { username, password }),
  logout: () => call<void>('POST', '/api/logout'),
  me: () => call<Me>('GET', '/api/me'),
  model: () => call<Model>('GET', '/api/model'),
  oneLine: () => call<OneLine>('GET', '/api/model/diagram'),
  points: () => call<PointInfo[]>('GET', '/api/points'),
  values: () => call<Value[]>('GET', '/api/values'),
  history: (point: string, from: Date, to: Date, maxPoints: number) =>
    call<History>('GET', `/api/points/${q(point)}/history?from=${q(from.toISOString())}&to=${q(to.toISOString())}&max_points=${maxPoints}`),
  alarms: (state: 'active' | 'all') => call<Alarm[]>('GET', `/api/alarms?state=${state}`),
  ack: (id: number) => call<Alarm>('POST', `/api/alarms/${id}/ack`),
  incidents: () => call<Incident[]>('GET', '/api/incidents'),
  estimation: () => call<EstimationReport>('GET', '/api/estimation'),
  prepareDecision: (id: number, step: DecisionStep, rank?: number) => call<PreparedDecision>('POST', `/api/incidents/${id}/prepare`, { step, rank }),
  decide: (id: number, step: DecisionStep, rank?: number, assertion?: DecisionAssertion) =>
    call<Incident>('POST', `/api/incidents/${id}/decide`, { step, rank, assertion }),
  command: (point: string, action: CommandAction, value: CommandValue, assertion?: CommandAssertion) =>
    call<Command>('POST', '/api/commands', { point, action, value, assertion }),
  prepare: (point: string, action: CommandAction, value: CommandValue) => call<PreparedCommand>('POST', '/api/commands/prepare', { point, action, value }),
  enrolments: (all: boolean) => call<Enrolment[]>('GET', `/api/enrolments${all ? '?all=true' : ''}`),
  enrol: (role: Role, credential_id: string, public_key: string) => call<Enrolment>('POST', '/api/enrolments', { role, credential_id, public_key }),
  approve: (id: number, certificate_pem?: string) => call<Enrolment>('POST', `/api/enrolments/${id}/approve`, certificate_pem ? { certificate_pem } : {}),
  commandById: (id: number) => call<Command>('GET', `/api/commands/${id}`),
  evidence: (point: string, seq?: number) => call<unknown>('GET', `/api/evidence?point=${q(point)}${seq === undefined ? '' : `&seq=${seq}`}`),
};

/** A passkey assertion over a prepared command; every field base64url. */
export interface CommandAssertion {
  command: string;
  credential_id: string;
  authenticator_data: string;
  client_data_json: string;
  signature: string;
}

/** What the person is asked to sign (POST /api/commands/prepare). */
export interface PreparedCommand {
  id: number;
  point: string;
  action: CommandAction;
  value: CommandValue;
  issuer: string;
  role: string;
  target: string;
  expires_at: string;
  command: string;
  digest: string;
  rp_id: string;
  credential_ids: string[];
}

export interface Enrolment {
  id: number;
  name: string;
  role: string;
  credential_id: string;
  state: 'pending' | 'approved';
  requested_at: string;
  approved_by: string | null;
  approved_at: string | null;
  certificate_serial: string | null;
}

/** Roles that may operate and acknowledge (api-contract.md, Auth). */
export function mayOperate(me: Me): boolean {
  return me.roles.some((r) => r === 'OPERATOR' || r === 'ENGINEER');
}
