import { deflateSync, crc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodePng, encodeIndexedPng } from '../../helpers/png-palette.js';

/** A truecolour PNG of `rgb` (width x height), each row with the given filter applied (0: none, 1: sub, 2: up). */
function truecolour(width: number, height: number, rgb: Buffer, filter: 0 | 1 | 2): Buffer {
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    rows[y * (width * 3 + 1)] = filter;
    for (let x = 0; x < width * 3; x++) {
      const v = rgb[y * width * 3 + x]!;
      const left = x >= 3 ? rgb[y * width * 3 + x - 3]! : 0;
      const up = y > 0 ? rgb[(y - 1) * width * 3 + x]! : 0;
      rows[y * (width * 3 + 1) + 1 + x] = (v - (filter === 1 ? left : filter === 2 ? up : 0)) & 0xff;
    }
  }
  const chunk = (type: string, body: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, 'latin1'), body])) >>> 0);
    return Buffer.concat([len, Buffer.from(type, 'latin1'), body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

describe('png-palette (npm run screenshots)', () => {
  it('decodes filtered truecolour rows, and an image of at most 256 colours round-trips exactly through the palette', () => {
    const [w, h] = [40, 30];
    const rgb = Buffer.alloc(w * h * 3);
    for (let i = 0; i < w * h; i++) rgb.set([(i % 7) * 30, (i % 5) * 50, (i % 3) * 90], i * 3); // 105 colours
    for (const filter of [0, 1, 2] as const)
      expect(decodePng(truecolour(w, h, rgb, filter)).rgb.equals(rgb)).toBe(true);
    const indexed = encodeIndexedPng({ width: w, height: h, rgb });
    expect(indexed.readUInt8(25)).toBe(3); // colour type: indexed
    expect(decodePng(indexed)).toEqual({ width: w, height: h, rgb });
  });

  it('past 256 colours, the rare ones become the nearest of the 256 most frequent', () => {
    const [w, h] = [64, 64];
    const rgb = Buffer.alloc(w * h * 3);
    for (let i = 0; i < w * h; i++) {
      const common = i % 16 !== 0; // 15/16 of the pixels in 200 colours, the rest in 256 rare ones
      const c = common ? (i % 200) * 1.2 : 10 + (i % 256) * 0.9;
      rgb.set([Math.round(c), Math.round(c), 128], i * 3);
    }
    const back = decodePng(encodeIndexedPng({ width: w, height: h, rgb })).rgb;
    let worst = 0;
    for (let i = 0; i < rgb.length; i++) worst = Math.max(worst, Math.abs(rgb[i]! - back[i]!));
    expect(worst).toBeLessThanOrEqual(2);
  });
});
