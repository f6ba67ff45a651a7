import type { Scalar } from '../../contracts/telemetry.js';
import { DEFAULT_MAX_NAME_BYTES } from '../bounded-text.js';
import type { CohortRules } from '../cohort.js';
import { VERSION_KEYS } from '../cohort.js';
import type { CompiledWhere } from '../where.js';
import { compileWhere } from '../where.js';

/**
 * The few attribute keys Vigil reads, compiled once per CohortRules so that decoders can recognise a key
 * without building a string: protobuf keys are matched on their UTF-8 bytes (bucketed by length, then
 * compared byte by byte), JSON keys through a Map. Every other attribute is skipped unread.
 *
 * A key may carry several roles (e.g. a cohort attribute configured as `k8s.pod.label.track`).
 */
export const ROLE_SERVICE_NAME = 0;
export const ROLE_SERVICE_VERSION = 1;
export const ROLE_POD_APP_VERSION = 2;
export const ROLE_POD_VERSION = 3;
export const ROLE_COHORT = 4;
export const ROLE_HTTP_ROUTE = 5;
export const ROLE_HTTP_RESPONSE_STATUS = 6;
export const ROLE_HTTP_STATUS_OLD = 7;
export const ROLE_RPC_GRPC_STATUS = 8;
export const ROLE_RPC_RESPONSE_STATUS = 9;
/** Pod label i of the rules: role FIRST_POD_LABEL_ROLE + 2i (current key), + 2i + 1 (deprecated key). */
export const FIRST_POD_LABEL_ROLE = 10;
/**
 * After the pod labels: one role per distinct attribute key of the span indicators' `where` (CohortRules.spanIndicators),
 * in order of first use; a key Vigil reads anyway (`http.route`, `http.response.status_code`, the cohort attribute)
 * gets its own role too, so its value is kept as sent (a `where` on a route longer than the limit never matches, where
 * the route role keeps its cut form).
 */

/** One span indicator key, compiled: it matches when any of its `where`s does (a key configured twice is one). */
export interface CompiledIndicator {
  readonly key: string;
  readonly wheres: readonly CompiledWhere[];
}

/** The roles whose value is kept cut when it is longer than the limit (bounded-text.ts); others drop it. */
const CUT_ROLES =
  (1 << ROLE_SERVICE_VERSION) | (1 << ROLE_POD_APP_VERSION) | (1 << ROLE_POD_VERSION) | (1 << ROLE_HTTP_ROUTE);

interface ByteKey {
  bytes: Buffer;
  roles: readonly number[];
}

export class CompiledRules {
  readonly rules: CohortRules;
  readonly roleCount: number;
  /** limits.maxNameLength: the longest string value kept (UTF-8 bytes). */
  readonly maxNameBytes: number;
  readonly byName: ReadonlyMap<string, readonly number[]>;
  /** The span indicators, their `where` slots being roles; undefined when none is configured. */
  readonly indicators: readonly CompiledIndicator[] | undefined;
  private readonly byLength: (ByteKey[] | undefined)[];

  constructor(rules: CohortRules) {
    this.rules = rules;
    this.maxNameBytes = rules.maxNameBytes ?? DEFAULT_MAX_NAME_BYTES;
    const names = new Map<string, number[]>();
    const add = (key: string, role: number): void => {
      const roles = names.get(key);
      if (roles) roles.push(role);
      else names.set(key, [role]);
    };
    add('service.name', ROLE_SERVICE_NAME);
    add(VERSION_KEYS[0], ROLE_SERVICE_VERSION);
    add(VERSION_KEYS[1], ROLE_POD_APP_VERSION);
    add(VERSION_KEYS[2], ROLE_POD_VERSION);
    add(rules.attribute, ROLE_COHORT);
    add('http.route', ROLE_HTTP_ROUTE);
    add('http.response.status_code', ROLE_HTTP_RESPONSE_STATUS);
    add('http.status_code', ROLE_HTTP_STATUS_OLD);
    add('rpc.grpc.status_code', ROLE_RPC_GRPC_STATUS);
    add('rpc.response.status_code', ROLE_RPC_RESPONSE_STATUS);
    rules.podLabels.forEach((label, i) => {
      add(`k8s.pod.label.${label}`, FIRST_POD_LABEL_ROLE + 2 * i);
      add(`k8s.pod.labels.${label}`, FIRST_POD_LABEL_ROLE + 2 * i + 1);
    });
    let roleCount = FIRST_POD_LABEL_ROLE + 2 * rules.podLabels.length;
    this.indicators = undefined;
    const specs = rules.spanIndicators ?? [];
    if (specs.length > 0) {
      const whereRoles = new Map<string, number>();
      const roleOf = (key: string): number => {
        let role = whereRoles.get(key);
        if (role === undefined) {
          whereRoles.set(key, (role = roleCount++));
          add(key, role);
        }
        return role;
      };
      const byKey = new Map<string, CompiledWhere[]>();
      for (const spec of specs) {
        const wheres = byKey.get(spec.key) ?? [];
        wheres.push(compileWhere(spec.where, roleOf));
        byKey.set(spec.key, wheres);
      }
      this.indicators = [...byKey].map(([key, wheres]) => ({ key, wheres }));
    }
    this.roleCount = roleCount;
    this.byName = names;
    this.byLength = [];
    for (const [name, roles] of names) {
      const bytes = Buffer.from(name, 'utf8');
      const bucket = (this.byLength[bytes.length] ??= []);
      bucket.push({ bytes, roles });
    }
  }

  /** Roles of the key stored in buf[start, end), or undefined for a key Vigil does not read. O(key length). */
  matchBytes(buf: Uint8Array, start: number, end: number): readonly number[] | undefined {
    const len = end - start;
    if (len >= this.byLength.length) return undefined;
    const bucket = this.byLength[len];
    if (bucket === undefined) return undefined;
    for (const candidate of bucket) {
      const bytes = candidate.bytes;
      let i = 0;
      while (i < len && bytes[i] === buf[start + i]) i++;
      if (i === len) return candidate.roles;
    }
    return undefined;
  }
}

const compiled = new WeakMap<CohortRules, CompiledRules>();

/** The compiled form of rules, cached per rules object (rules are frozen config, never mutated). */
export function compileRules(rules: CohortRules): CompiledRules {
  let c = compiled.get(rules);
  if (c === undefined) {
    c = new CompiledRules(rules);
    compiled.set(rules, c);
  }
  return c;
}

/** Whether the key in buf[start, end) starts with `http.` (a span with HTTP semantics). */
export function isHttpKeyBytes(buf: Uint8Array, start: number, end: number): boolean {
  return (
    end - start > 5 &&
    buf[start] === 0x68 &&
    buf[start + 1] === 0x74 &&
    buf[start + 2] === 0x74 &&
    buf[start + 3] === 0x70 &&
    buf[start + 4] === 0x2e
  );
}

/**
 * The values of the recognised attributes of one resource or one span, indexed by role. One bag per
 * decode call per level, reset between resources/spans: no allocation per attribute.
 */
export class AttrBag {
  readonly values: Scalar[];
  /** Any attribute key starting with `http.` was seen. */
  hasHttp = false;
  /** Bit r: role r (< 31) had a string value longer than the limit (cut or dropped: `setLong`). */
  long = 0;

  constructor(roleCount: number) {
    this.values = new Array<Scalar>(roleCount).fill(undefined);
  }

  reset(): void {
    this.values.fill(undefined);
    this.hasHttp = false;
    this.long = 0;
  }

  set(roles: readonly number[], value: Scalar): void {
    for (const role of roles) this.values[role] = value;
    if (this.long !== 0) for (const role of roles) if (role < 31) this.long &= ~(1 << role);
  }

  /**
   * A string value longer than the limit (bounded-text.ts): versions and the route keep its cut form (`cut` is
   * called only then), every other role drops it (absent); each role is flagged in `long`.
   */
  setLong(roles: readonly number[], cut: () => string): void {
    let keep = false;
    for (const role of roles) {
      if (role >= 31) continue;
      this.long |= 1 << role;
      if ((CUT_ROLES & (1 << role)) !== 0) keep = true;
    }
    const value = keep ? cut() : undefined;
    for (const role of roles) this.values[role] = (CUT_ROLES & (1 << role)) !== 0 && role < 31 ? value : undefined;
  }

  /** Whether role r's value was longer than the limit. */
  isLong(role: number): boolean {
    return (this.long & (1 << role)) !== 0;
  }

  /** A string-valued role; numbers and booleans in their string form (an int version `2` is "2"). */
  str(role: number): string | undefined {
    const v = this.values[role];
    return v === undefined ? undefined : typeof v === 'string' ? v : String(v);
  }

  /** A numeric role; numeric strings are accepted; NaN when absent or not a number. */
  num(role: number): number {
    const v = this.values[role];
    if (typeof v === 'number') return v;
    if (typeof v === 'string' && v.trim() !== '') return Number(v);
    return Number.NaN;
  }
}
