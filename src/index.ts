/**
 * tweedie for Node (`tweedie`): the browser entry's API plus everything that reads or writes files or needs
 * Node: NPY/PNG/NIfTI/DICOM, GMM and scheduler files, ONNX model folders on onnxruntime-node, every sampler
 * module with the diffusers scheduler mapping, all operators with their spec parser (`parseOperatorSpec`),
 * slice-wise volume reconstruction, raw multi-coil k-space in the fastMRI HDF5 layout (h5wasm), and the package root (the shipped weights/ and examples/).
 */
export * from './browser.js';
export * from './package-root.js';
export * from './io/npy.js';
export * from './io/png.js';
export * from './io/volume.js';
export * from './io/nifti.js';
export * from './io/fastmri.js';
export * from './io/fastmri-file.js';
export * from './io/ismrmrd-header.js';
export * from './inverse/operators/coil-maps.js';
export * from './io/dicom-file.js';
export * from './io/dicom-write.js';
export * from './io/volume-file.js';
export * from './paths/scheduler-config-file.js';
export * from './models/gmm-file.js';
export * from './models/onnx.js';
export * from './models/classifier-onnx.js';
export * from './models/noise-level-file.js';
export * from './models/model-folder.js';
export * from './restoration/boundary-file.js';
export * from './inverse/operators/spec-file.js';
export * from './volume/reconstruct.js';
export * from './volume/kspace-file.js';
