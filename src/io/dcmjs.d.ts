// The part of dcmjs (https://github.com/dcmjs-org/dcmjs) that dicom-write.ts uses; the package ships no types.
declare module 'dcmjs' {
  type Dataset = Record<string, unknown>;
  const dcmjs: {
    data: {
      DicomMetaDictionary: { denaturalizeDataset(ds: Dataset): Dataset };
      DicomDict: new (meta: Dataset) => { dict: Dataset; write(options?: object): ArrayBuffer };
    };
  };
  export default dcmjs;
}
