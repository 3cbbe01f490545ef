/**
 * The frame size a JPEG, JPEG-LS or JPEG 2000 codestream declares, read from its first frame header
 * (JPEG SOFn / JPEG-LS SOF55: ITU T.81 B.2.2; JPEG 2000 SIZ: ITU T.800 A.5.1) before a decoder allocates
 * for it; undefined when no such header is found.
 */
export interface CodestreamHeader {
  width: number;
  height: number;
  components: number;
  precision: number;
}

export function codestreamHeader(b: Uint8Array): CodestreamHeader | undefined {
  const u16 = (p: number): number => (b[p]! << 8) | b[p + 1]!;
  const u32 = (p: number): number => u16(p) * 65536 + u16(p + 2);
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0x4f && b[2] === 0xff && b[3] === 0x51) {
    // SOC then SIZ: Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz, XTOsiz, YTOsiz, Csiz, Ssiz...
    if (b.length < 43) return undefined;
    return { width: u32(8) - u32(16), height: u32(12) - u32(20), components: u16(40), precision: (b[42]! & 0x7f) + 1 };
  }
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return undefined;
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) return undefined;
    const marker = b[p + 1]!;
    if (marker === 0xff) {
      p++; // fill byte
      continue;
    }
    const sof = (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) || marker === 0xf7;
    if (sof) {
      if (p + 10 > b.length) return undefined;
      return { precision: b[p + 4]!, height: u16(p + 5), width: u16(p + 7), components: b[p + 9]! };
    }
    if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      p += 2;
      continue;
    }
    p += 2 + u16(p + 2);
  }
  return undefined;
}
