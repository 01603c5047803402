"""RadLens dicom_io package."""
