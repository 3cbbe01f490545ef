import { fail } from '../core/errors.js';

/**
 * The few fields tweedie needs from an ISMRMRD header (the XML of fastMRI's `ismrmrd_header`,
 * schema ismrmrd.xsd): the matrix size and field of view (mm) of the encoded and the recon space
 * of the first <encoding>. Read with tag matching rather than an XML library: comments, CDATA and
 * processing instructions are dropped, namespace prefixes (<ismrmrd:matrixSize>) and attributes
 * are accepted, and a missing or non-numeric field is named in one line.
 */

export interface EncodingSpace {
  /** x: readout (kspace rows in fastMRI), y: phase encoding (kspace columns), z: slice. */
  matrixSize: { x: number; y: number; z: number };
  fieldOfView_mm: { x: number; y: number; z: number };
}

export interface IsmrmrdHeader {
  encodedSpace: EncodingSpace;
  reconSpace: EncodingSpace;
}

/** The inner text of the first element `tag` (any namespace prefix) in `xml`, or undefined. */
function element(xml: string, tag: string): string | undefined {
  const open = new RegExp(`<(?:[\\w.-]+:)?${tag}(?:\\s[^>]*)?>`, 'i').exec(xml);
  if (!open) return undefined;
  const rest = xml.slice(open.index + open[0].length);
  const close = new RegExp(`</(?:[\\w.-]+:)?${tag}\\s*>`, 'i').exec(rest);
  return close ? rest.slice(0, close.index) : undefined;
}

function space(encoding: string, tag: string, name: string): EncodingSpace {
  const block = element(encoding, tag);
  if (block === undefined) fail('BAD_INPUT', `${name}: the ISMRMRD header has no <${tag}> in its <encoding>; the file is not in the fastMRI layout`);
  const triple = (field: string, positive: boolean) => {
    const inner = element(block, field);
    if (inner === undefined) fail('BAD_INPUT', `${name}: the ISMRMRD header's <${tag}> has no <${field}>`);
    const axis = (a: 'x' | 'y' | 'z'): number => {
      const text = element(inner, a)?.trim();
      const v = text !== undefined && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text) ? Number(text) : NaN;
      if (!Number.isFinite(v) || (positive ? !(v > 0) : v < 0)) fail('BAD_INPUT', `${name}: ISMRMRD <${tag}><${field}><${a}> is "${text ?? '(missing)'}"; expected a ${positive ? 'positive' : 'non-negative'} number`);
      return v;
    };
    return { x: axis('x'), y: axis('y'), z: axis('z') };
  };
  const matrixSize = triple('matrixSize', true);
  for (const a of ['x', 'y', 'z'] as const) {
    if (!Number.isInteger(matrixSize[a])) fail('BAD_INPUT', `${name}: ISMRMRD <${tag}><matrixSize><${a}> is ${matrixSize[a]}; expected an integer`);
  }
  return { matrixSize, fieldOfView_mm: triple('fieldOfView_mm', false) };
}

/** Parse the header XML (`name` for messages). */
export function parseIsmrmrdHeader(xml: string, name: string): IsmrmrdHeader {
  const text = xml.replace(/<!--[\s\S]*?-->/g, '').replace(/<!\[CDATA\[[\s\S]*?\]\]>/g, '').replace(/<\?[\s\S]*?\?>/g, '');
  const encoding = element(text, 'encoding');
  if (encoding === undefined) fail('BAD_INPUT', `${name}: the ismrmrd_header holds no <encoding> element; it is not an ISMRMRD header`);
  return { encodedSpace: space(encoding, 'encodedSpace', name), reconSpace: space(encoding, 'reconSpace', name) };
}
