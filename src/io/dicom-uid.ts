/**
 * New DICOM UIDs under the root 2.25 (ISO/IEC 9834-8 / ITU-T X.667, DICOM PS3.5 B.2): "2.25." followed by
 * a random (version 4) UUID read as one unsigned 128-bit decimal integer, at most 44 characters. No
 * registration is needed and collisions are as unlikely as for UUIDs. Uses the Web Crypto API (Node 20 and
 * browsers).
 */
export const UID_ROOT = '2.25';

export function newUid(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  b[6] = (b[6]! & 0x0f) | 0x40; // version 4
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC 4122 variant
  let n = 0n;
  for (const x of b) n = (n << 8n) | BigInt(x);
  return `${UID_ROOT}.${n.toString()}`;
}
