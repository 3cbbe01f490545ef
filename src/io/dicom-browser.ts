import { fail } from '../core/errors.js';
import type { DicomLibraries, DicomParserLibrary } from './dicom.js';
import type { DicomCodecs } from './dicom-pixels.js';

/**
 * The DICOM libraries in a page without a bundler, the way the page loads onnxruntime-web: the packages'
 * own files served from node_modules. dicom-parser and the three Cornerstone decoders are UMD/Emscripten
 * scripts, loaded with classic <script> tags (they define the globals dicomParser, CharLSWASM,
 * OpenJPEGWASM and libjpegturbowasm_decode; each finds its .wasm beside its script);
 * jpeg-lossless-decoder-js is an ES module (release/lossless.js), imported from `jpegLosslessUrl`.
 * Deflated files need a synchronous raw inflater (e.g. pako.inflateRaw) as `inflate`.
 */
export interface BrowserDicomOptions {
  /** URL of jpeg-lossless-decoder-js's release/lossless.js. */
  jpegLosslessUrl?: string;
  inflate?: DicomLibraries['inflate'];
  /** Where the globals live (default globalThis). */
  scope?: Record<string, unknown>;
}

export function browserDicomLibraries(options: BrowserDicomOptions = {}): DicomLibraries {
  const scope = options.scope ?? (globalThis as unknown as Record<string, unknown>);
  const parser = scope.dicomParser as DicomParserLibrary | undefined;
  if (!parser) fail('UNSUPPORTED', 'dicom-parser is not loaded: add <script src="node_modules/dicom-parser/dist/dicomParser.min.js"> to the page');
  const wasm = <T>(global: string, file: string): (() => Promise<T>) => {
    let loaded: Promise<T> | undefined;
    return () => {
      const factory = scope[global] as ((arg: object) => Promise<T>) | undefined;
      if (!factory) return fail('UNSUPPORTED', `the ${global} decoder is not loaded: add <script src="node_modules/${file}"> to the page`);
      return (loaded ??= factory({ print: () => {}, printErr: () => {} }));
    };
  };
  const url = options.jpegLosslessUrl;
  const codecs: DicomCodecs = {
    jpegLS: wasm('CharLSWASM', '@cornerstonejs/codec-charls/dist/charlswasm_decode.js'),
    jpeg2000: wasm('OpenJPEGWASM', '@cornerstonejs/codec-openjpeg/dist/openjpegwasm_decode.js'),
    jpegBaseline: wasm('libjpegturbowasm_decode', '@cornerstonejs/codec-libjpeg-turbo-8bit/dist/libjpegturbowasm_decode.js'),
    ...(url ? { jpegLossless: () => import(/* webpackIgnore: true */ url) } : {}),
  };
  return { parser: parser!, codecs, ...(options.inflate ? { inflate: options.inflate } : {}) };
}
