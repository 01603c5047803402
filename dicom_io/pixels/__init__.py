"""Pixel data into voxels: native reads, plugin decoding, codestream checks, rescale to
modality units, and the decode guard that runs decoders in worker processes.

- :mod:`.stack`: an ordered stack decoded into a :class:`~dicom_io.volume.Volume`.
- :mod:`.native`: uncompressed pixel data straight from the file.
- :mod:`.plugins`: compressed pixel data through pydicom's decoders.
- :mod:`.codestream`: the frame size a JPEG codestream declares, checked before decoding.
- :mod:`.rescale`: decoded frames into modality units.
- :mod:`.decode_guard`: decoders in worker processes, under a deadline.
"""
