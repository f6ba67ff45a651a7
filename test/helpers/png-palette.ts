/**
 * Makes Chromium's screenshots small enough for docs/ (npm run screenshots): a truecolour PNG becomes an indexed one
 * (PLTE) of its 256 most frequent colours, each other colour mapped to the nearest of them. A dashboard is a few flat
 * colours plus anti-aliased text: the 256 cover ~98% of the pixels and the picture looks the same, at about a third
 * of the bytes. Reads what Chromium writes (8-bit RGB or RGBA, not interlaced; and its own output); alpha is dropped.
 */
import { deflateSync, inflateSync, crc32 } from 'node:zlib';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

export interface Pixels {
  width: number;
  height: number;
  /** RGB, 3 bytes a pixel, row after row. */
  rgb: Buffer;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Reverses the PNG row filters in place (`bpp` bytes a pixel). */
function unfilter(raw: Buffer, width: number, height: number, bpp: number): Buffer {
  const stride = width * bpp;
  const out = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const src = y * (stride + 1) + 1;
    const row = y * stride;
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[row + x - bpp]! : 0;
      const b = y > 0 ? out[row - stride + x]! : 0;
      const c = x >= bpp && y > 0 ? out[row - stride + x - bpp]! : 0;
      const pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter] ?? 0;
      out[row + x] = (raw[src + x]! + pred) & 0xff;
    }
  }
  return out;
}

/** The pixels of an 8-bit RGB or RGBA PNG (not interlaced). */
export function decodePng(png: Buffer): Pixels {
  if (!png.subarray(0, 8).equals(SIGNATURE)) throw new Error('not a PNG');
  let pos = 8;
  let header: Buffer | undefined;
  let plte: Buffer | undefined;
  const data: Buffer[] = [];
  while (pos < png.length) {
    const length = png.readUInt32BE(pos);
    const type = png.toString('latin1', pos + 4, pos + 8);
    const body = png.subarray(pos + 8, pos + 8 + length);
    if (type === 'IHDR') header = body;
    if (type === 'PLTE') plte = body;
    if (type === 'IDAT') data.push(body);
    pos += 12 + length;
  }
  if (!header) throw new Error('PNG without IHDR');
  const width = header.readUInt32BE(0);
  const height = header.readUInt32BE(4);
  const [depth, colour, , , interlace] = [header[8], header[9], header[10], header[11], header[12]];
  const bpp = colour === 2 ? 3 : colour === 6 ? 4 : colour === 3 && plte ? 1 : 0;
  if (depth !== 8 || bpp === 0 || interlace !== 0) throw new Error('only 8-bit RGB(A) or indexed, non-interlaced PNGs');
  const pixels = unfilter(inflateSync(Buffer.concat(data)), width, height, bpp);
  if (bpp === 3) return { width, height, rgb: pixels };
  const rgb = Buffer.alloc(width * height * 3);
  for (let i = 0, j = 0; i < pixels.length; i += bpp, j += 3) {
    if (bpp === 4) pixels.copy(rgb, j, i, i + 3);
    else plte!.copy(rgb, j, pixels[i]! * 3, pixels[i]! * 3 + 3);
  }
  return { width, height, rgb };
}

const chunk = (type: string, body: Buffer): Buffer => {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])) >>> 0, 0);
  return Buffer.concat([head, body, crc]);
};

/** The 256 most frequent colours (as 0xRRGGBB), and each colour's index among them (the nearest for the others). */
function palette(rgb: Buffer): { colours: number[]; indexOf: (c: number) => number } {
  const counts = new Map<number, number>();
  for (let i = 0; i < rgb.length; i += 3) {
    const c = (rgb[i]! << 16) | (rgb[i + 1]! << 8) | rgb[i + 2]!;
    counts.set(c, (counts.get(c) ?? 0) + 1);
  }
  const colours = [...counts.entries()]
    .sort((x, y) => y[1] - x[1] || x[0] - y[0])
    .slice(0, 256)
    .map(([c]) => c);
  const index = new Map(colours.map((c, i) => [c, i]));
  const distance = (a: number, b: number) =>
    ((a >> 16) - (b >> 16)) ** 2 + (((a >> 8) & 0xff) - ((b >> 8) & 0xff)) ** 2 + ((a & 0xff) - (b & 0xff)) ** 2;
  const indexOf = (c: number): number => {
    let i = index.get(c);
    if (i === undefined) {
      i = 0;
      for (let k = 1; k < colours.length; k++) if (distance(c, colours[k]!) < distance(c, colours[i]!)) i = k;
      index.set(c, i);
    }
    return i;
  };
  return { colours, indexOf };
}

/** An indexed PNG of the pixels (exact when they have at most 256 colours). */
export function encodeIndexedPng({ width, height, rgb }: Pixels): Buffer {
  const { colours, indexOf } = palette(rgb);
  const rows = Buffer.alloc((width + 1) * height);
  for (let y = 0; y < height; y++) {
    rows[y * (width + 1)] = 0; // filter None: the best for indexed images
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      rows[y * (width + 1) + 1 + x] = indexOf((rgb[i]! << 16) | (rgb[i + 1]! << 8) | rgb[i + 2]!);
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 3, 0, 0, 0], 8);
  const plte = Buffer.from(colours.flatMap((c) => [c >> 16, (c >> 8) & 0xff, c & 0xff]));
  return Buffer.concat([
    SIGNATURE,
    chunk('IHDR', header),
    chunk('PLTE', plte),
    chunk('IDAT', deflateSync(rows, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
