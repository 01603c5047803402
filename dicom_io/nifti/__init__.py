"""NIfTI-1 and NIfTI-2 volumes: the header, the geometry (LPS affine) and the voxels.

- :mod:`.reader`: a NIfTI file into :class:`~dicom_io.study.Series`.
- :mod:`.header`, :mod:`.geometry`, :mod:`.voxels`: its three parts.
"""
