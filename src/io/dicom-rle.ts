import { fail } from '../core/errors.js';

/**
 * DICOM RLE Lossless (PS3.5 Annex G), written here because no maintained npm package decodes it on its own
 * (the Cornerstone codecs cover the JPEG family only; dcmjs and dicom-parser leave pixel data encoded).
 * A frame is a 64-byte header (the segment count, then up to 15 segment offsets, uint32 little endian)
 * followed by PackBits segments: one per byte of a sample, most significant byte first. Returns the frame as
 * little-endian samples of `bytesPerSample` bytes; every read and write is bounds-checked.
 */
export function decodeRle(frame: Uint8Array, pixels: number, bytesPerSample: number, name: string): Uint8Array {
  const bad = (what: string): never => fail('UNREADABLE_FILE', `${name}: RLE pixel data is corrupt: ${what}`);
  if (frame.length < 64) bad(`the frame holds ${frame.length} bytes, less than its 64-byte header`);
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const segments = view.getUint32(0, true);
  if (segments !== bytesPerSample) bad(`${segments} segment(s) where a ${bytesPerSample}-byte grayscale sample needs ${bytesPerSample}`);
  const out = new Uint8Array(pixels * bytesPerSample);
  for (let s = 0; s < segments; s++) {
    const start = view.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? view.getUint32(8 + 4 * s, true) : frame.length;
    if (start < 64 || end > frame.length || start > end) bad(`segment ${s + 1} spans bytes ${start}..${end} of a ${frame.length}-byte frame`);
    // Segment s holds byte (bytesPerSample - 1 - s) of each little-endian sample.
    const lane = bytesPerSample - 1 - s;
    let p = start, o = 0;
    while (p < end && o < pixels) {
      const n = frame[p++]!;
      if (n < 128) {
        const count = n + 1;
        if (p + count > end || o + count > pixels) bad(`a literal run of ${count} bytes overruns segment ${s + 1}`);
        for (let i = 0; i < count; i++) out[(o + i) * bytesPerSample + lane] = frame[p + i]!;
        p += count;
        o += count;
      } else if (n > 128) {
        const count = 257 - n;
        if (p >= end || o + count > pixels) bad(`a repeat run of ${count} bytes overruns segment ${s + 1}`);
        const v = frame[p++]!;
        for (let i = 0; i < count; i++) out[(o + i) * bytesPerSample + lane] = v;
        o += count;
      }
    }
    if (o < pixels) bad(`segment ${s + 1} decodes to ${o} bytes, ${pixels} expected`);
  }
  return out;
}
