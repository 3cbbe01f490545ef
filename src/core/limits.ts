/**
 * The most values one array may hold: 2^27 = 134,217,728 (e.g. 512 x 512 x 512 voxels), 512 MiB
 * as float32 and at most 1 GiB of 8-byte raw data. File readers check headers against it before
 * allocating, and model folders check the item shape they declare.
 */
export const MAX_VALUES = 2 ** 27;
