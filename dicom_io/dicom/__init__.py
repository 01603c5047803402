"""DICOM headers: what RadLens reads from each file's header, the per-frame geometry,
and how frames are grouped into stacks and ordered along the slice normal.

- :mod:`.header`: one file's header, read without decoding its pixels.
- :mod:`.values`, :mod:`.raw_values`: simple values out of a header, fast.
- :mod:`.frame_info`: per-frame position, orientation and value transform.
- :mod:`.stacking`: frames into stacks, ordered along the normal.
- :mod:`.slice_reference`: where one slice came from (for SR references).
"""
