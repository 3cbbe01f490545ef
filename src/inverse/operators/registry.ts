import type { Operator } from './operator.js';
import { blurDef, type BlurConfig } from './blur.js';
import { colorDef, type ColorConfig } from './colorization.js';
import { ctDef, type CTConfig } from './ct.js';
import { identityDef, type IdentityConfig } from './identity.js';
import { inpaintDef, type InpaintConfig } from './inpainting.js';
import { matrixDef, type MatrixConfig } from './matrix.js';
import { mriDef, type MriConfig } from './mri-def.js';
import { badOf, imageShape, readSpec, type OperatorDef } from './spec-grammar.js';
import { srDef, type SRConfig } from './superres.js';

/**
 * The operator kinds of spec strings, and the pure path spec -> configuration -> operator.
 * A configuration is a plain JSON-able object (file contents as typed arrays, structured-cloneable
 * for worker threads); `spec-file.ts` reads the files a spec names.
 */

export type OperatorConfig = IdentityConfig | InpaintConfig | SRConfig | BlurConfig | ColorConfig | MriConfig | CTConfig | MatrixConfig;

/** In the order the errors list them. */
export const OPERATOR_DEFS: readonly OperatorDef<OperatorConfig>[] = [identityDef, inpaintDef, srDef, blurDef, colorDef, mriDef, ctDef, matrixDef];

/**
 * The configuration a spec describes (pure: files named in it stay `{ file, format }` references).
 * With `inShape`, operators on images check it first, as the spec parser always has.
 */
export function operatorConfigFromSpec(spec: string, inShape?: readonly number[]): OperatorConfig {
  const { def, items } = readSpec(spec, OPERATOR_DEFS);
  if (inShape && def.image) imageShape(def.name, inShape, items.bad);
  return def.parse(items);
}

/**
 * The operator of a configuration for items of shape `inShape` (pure; its files must have been read).
 * Errors quote `spec` when given, else the kind.
 */
export function buildOperator(config: OperatorConfig, inShape: readonly number[], spec?: string): Operator {
  const def = OPERATOR_DEFS.find((d) => d.name === config.kind);
  const bad = badOf(spec?.trim(), config.kind);
  if (!def) return bad(`unknown operator '${config.kind}'; use one of ${OPERATOR_DEFS.map((d) => d.name).join(', ')}`);
  return def.build(config, inShape, bad);
}
