import { describe, expect, it } from 'vitest';
import {
  GZIP_CHARGE_FACTOR,
  IngestGate,
  JSON_CHARGE_FACTOR,
  chargeFor,
} from '../../../../src/ingest/admission/gate.js';

const MiB = 1024 * 1024;

describe('IngestGate', () => {
  it('admits up to maxRequests, refuses the next one with the configured Retry-After, and admits again after a release', () => {
    const gate = new IngestGate({ maxBytes: 100 * MiB, maxRequests: 2, retryAfterSeconds: 3 });
    const a = gate.tryAdmit(10);
    const b = gate.tryAdmit(10);
    const c = gate.tryAdmit(10);
    expect(a.ok && b.ok).toBe(true);
    expect(c).toEqual({ ok: false, reason: 'requests', retryAfterSeconds: 3 });
    if (a.ok) a.release();
    expect(gate.tryAdmit(10).ok).toBe(true);
    expect(gate.stats()).toMatchObject({ inFlightRequests: 2, inFlightBytes: 20, admitted: 3, refused: 1 });
  });

  it('refuses by bytes, but always admits a lone request larger than the budget', () => {
    const gate = new IngestGate({ maxBytes: 1000, maxRequests: 100, retryAfterSeconds: 1 });
    const big = gate.tryAdmit(5000);
    expect(big.ok).toBe(true);
    expect(gate.tryAdmit(1)).toMatchObject({ ok: false, reason: 'bytes' });
    if (big.ok) big.release();
    const a = gate.tryAdmit(600);
    expect(a.ok).toBe(true);
    expect(gate.tryAdmit(500)).toMatchObject({ ok: false, reason: 'bytes' });
    expect(gate.tryAdmit(400).ok).toBe(true);
    expect(gate.stats().peakBytes).toBe(5000);
  });

  it('release is idempotent and resize moves the charge to the known size', () => {
    const gate = new IngestGate({ maxBytes: 1000, maxRequests: 10, retryAfterSeconds: 1 });
    const a = gate.tryAdmit(100);
    if (!a.ok) throw new Error('not admitted');
    a.resize(700);
    expect(a.bytes).toBe(700);
    expect(gate.stats().inFlightBytes).toBe(700);
    expect(gate.tryAdmit(400).ok).toBe(false);
    a.release();
    a.release();
    a.resize(50); // after release: no effect
    expect(gate.stats()).toMatchObject({ inFlightBytes: 0, inFlightRequests: 0 });
  });

  it('holds what has arrived, not what is expected: the expected size is only tested against the room left', () => {
    const gate = new IngestGate({ maxBytes: 1000, maxRequests: 10, retryAfterSeconds: 1 });
    // two clients announce 800 bytes each and send nothing: neither holds a byte, neither blocks the other
    const a = gate.tryAdmit(0, 800);
    const b = gate.tryAdmit(0, 800);
    expect(a.ok && b.ok).toBe(true);
    expect(gate.stats()).toMatchObject({ inFlightRequests: 2, inFlightBytes: 0 });
    const c = gate.tryAdmit(0, 300);
    if (!a.ok || !b.ok || !c.ok) throw new Error('not admitted');
    expect(c.grow(300)).toBe(true);
    // with 300 held, a request expected to need 800 does not fit: refused at once, unread
    expect(gate.tryAdmit(0, 800)).toMatchObject({ ok: false, reason: 'bytes' });
    expect(gate.tryAdmit(0, 700).ok).toBe(true);
    expect(gate.stats()).toMatchObject({ inFlightRequests: 4, inFlightBytes: 300, refused: 1 });
  });

  it('grow raises the charge as bytes arrive and refuses past the budget while others hold bytes', () => {
    const gate = new IngestGate({ maxBytes: 1000, maxRequests: 10, retryAfterSeconds: 1 });
    const a = gate.tryAdmit(0, 600);
    const b = gate.tryAdmit(0, 600);
    if (!a.ok || !b.ok) throw new Error('not admitted');
    expect(a.grow(400)).toBe(true);
    expect(a.grow(300)).toBe(true); // smaller: nothing changes
    expect(a.bytes).toBe(400);
    expect(b.grow(600)).toBe(true);
    expect(b.grow(601)).toBe(false); // 400 + 601 > 1000
    expect(b.bytes).toBe(600);
    expect(gate.stats()).toMatchObject({ inFlightBytes: 1000, refused: 1, peakBytes: 1000 });
    a.release();
    // alone, a request may grow past the budget (the body limit bounds it)
    expect(b.grow(5000)).toBe(true);
    expect(gate.stats()).toMatchObject({ inFlightBytes: 5000, peakBytes: 5000 });
    b.release();
    expect(b.grow(7000)).toBe(true); // after release: no effect
    expect(gate.stats()).toMatchObject({ inFlightBytes: 0, inFlightRequests: 0 });
  });

  it('a slot holding no bytes does not keep a request larger than the budget out', () => {
    const gate = new IngestGate({ maxBytes: 1000, maxRequests: 10, retryAfterSeconds: 1 });
    const idle = gate.tryAdmit(0, 800);
    expect(idle.ok).toBe(true);
    const big = gate.tryAdmit(0, 5000);
    if (!big.ok) throw new Error('not admitted');
    expect(big.grow(5000)).toBe(true);
  });

  it('never suggests a Retry-After under 1 s', () => {
    const gate = new IngestGate({ maxBytes: 1, maxRequests: 1, retryAfterSeconds: 0.2 });
    gate.tryAdmit(1);
    expect(gate.tryAdmit(1)).toMatchObject({ ok: false, retryAfterSeconds: 1 });
    expect(gate.retryAfterSeconds).toBe(1);
  });
});

describe('chargeFor', () => {
  const pb = { gzip: false, json: false };
  it('charges the wire bytes plus the decoded form: gzip at its expected inflated size (capped by the limit), JSON more', () => {
    expect(chargeFor(1000, pb, 16 * MiB)).toBe(2000);
    expect(chargeFor(1000, { gzip: true, json: false }, 16 * MiB)).toBe(1000 + 1000 * GZIP_CHARGE_FACTOR);
    expect(chargeFor(10 * MiB, { gzip: true, json: false }, 16 * MiB)).toBe(10 * MiB + 16 * MiB);
    expect(chargeFor(1000, { gzip: false, json: true }, 16 * MiB)).toBe(1000 + 1000 * JSON_CHARGE_FACTOR);
    expect(chargeFor(1000, { gzip: true, json: true }, 16 * MiB)).toBe(
      1000 + 1000 * GZIP_CHARGE_FACTOR * JSON_CHARGE_FACTOR,
    );
  });

  it('charges an unknown or invalid length as the default estimate', () => {
    expect(chargeFor(undefined, pb, 16 * MiB)).toBe(2 * MiB);
    expect(chargeFor(Number.NaN, pb, 16 * MiB, 4096)).toBe(8192);
    expect(chargeFor(-5, pb, 1000)).toBe(2000);
  });
});
