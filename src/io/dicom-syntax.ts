import { fail } from '../core/errors.js';

/** How the pixel data of a transfer syntax is stored, and the decoder that reads it. */
export type PixelEncoding = 'native' | 'rle' | 'jpeg-ls' | 'jpeg-2000' | 'jpeg-baseline' | 'jpeg-lossless';

export interface TransferSyntax {
  uid: string;
  name: string;
  encoding: PixelEncoding;
  /** The encoding discards information (or may: JPEG 2000 irreversible, JPEG-LS near-lossless). */
  lossy: boolean;
  bigEndian?: boolean;
  deflated?: boolean;
}

const S = (uid: string, name: string, encoding: PixelEncoding, lossy = false, extra: Partial<TransferSyntax> = {}): TransferSyntax => ({ uid, name, encoding, lossy, ...extra });

/** The transfer syntaxes tweedie decodes (DICOM PS3.6 Annex A). */
export const TRANSFER_SYNTAXES: readonly TransferSyntax[] = [
  S('1.2.840.10008.1.2', 'Implicit VR Little Endian', 'native'),
  S('1.2.840.10008.1.2.1', 'Explicit VR Little Endian', 'native'),
  S('1.2.840.10008.1.2.1.99', 'Deflated Explicit VR Little Endian', 'native', false, { deflated: true }),
  S('1.2.840.10008.1.2.2', 'Explicit VR Big Endian', 'native', false, { bigEndian: true }),
  S('1.2.840.10008.1.2.5', 'RLE Lossless', 'rle'),
  S('1.2.840.10008.1.2.4.50', 'JPEG Baseline (Process 1)', 'jpeg-baseline', true),
  S('1.2.840.10008.1.2.4.51', 'JPEG Extended (Process 2 & 4)', 'jpeg-baseline', true),
  S('1.2.840.10008.1.2.4.57', 'JPEG Lossless, Non-Hierarchical (Process 14)', 'jpeg-lossless'),
  S('1.2.840.10008.1.2.4.70', 'JPEG Lossless, First-Order Prediction (Process 14, SV1)', 'jpeg-lossless'),
  S('1.2.840.10008.1.2.4.80', 'JPEG-LS Lossless', 'jpeg-ls'),
  S('1.2.840.10008.1.2.4.81', 'JPEG-LS Near-Lossless', 'jpeg-ls', true),
  S('1.2.840.10008.1.2.4.90', 'JPEG 2000 Lossless Only', 'jpeg-2000'),
  S('1.2.840.10008.1.2.4.91', 'JPEG 2000', 'jpeg-2000', true),
];

/** Transfer syntaxes we can name but not decode. */
const UNDECODED: Record<string, string> = {
  '1.2.840.10008.1.2.4.100': 'MPEG2 Main Profile / Main Level',
  '1.2.840.10008.1.2.4.101': 'MPEG2 Main Profile / High Level',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264 High Profile',
  '1.2.840.10008.1.2.4.103': 'MPEG-4 AVC/H.264 BD-compatible High Profile',
  '1.2.840.10008.1.2.4.201': 'HTJ2K Lossless',
  '1.2.840.10008.1.2.4.202': 'HTJ2K Lossless RPCL',
  '1.2.840.10008.1.2.4.203': 'HTJ2K',
  '1.2.840.10008.1.2.4.92': 'JPEG 2000 Part 2 Multi-component Lossless Only',
  '1.2.840.10008.1.2.4.93': 'JPEG 2000 Part 2 Multi-component',
  '1.2.840.10008.1.2.4.94': 'JPIP Referenced',
  '1.2.840.10008.1.2.4.95': 'JPIP Referenced Deflate',
};

const BY_UID = new Map(TRANSFER_SYNTAXES.map((s) => [s.uid, s]));

/** The transfer syntax `uid` of file `name`; an unknown or undecodable one is refused with its UID and name. */
export function transferSyntax(uid: string, name: string): TransferSyntax {
  const s = BY_UID.get(uid);
  if (s) return s;
  const what = UNDECODED[uid] ? `${uid} (${UNDECODED[uid]})` : `${uid} (not a transfer syntax this reader knows)`;
  const known = TRANSFER_SYNTAXES.map((t) => t.name).join(', ');
  return fail('UNSUPPORTED', `${name}: transfer syntax ${what} is not supported; tweedie reads ${known} — convert first, e.g. "gdcmconv --raw in.dcm out.dcm"`);
}
