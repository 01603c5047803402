"""De-identification: DICOM PS3.15 Annex E, the Basic Application Level Confidentiality
Profile.

- :mod:`.profile`: the profile's attribute table, as data.
- :mod:`.dataset`: one data set de-identified in place.
- :mod:`.options`: the profile options RadLens implements.
- :mod:`.uid_map`: consistent, non-reversible UID replacement.
- :mod:`.files`: files and folders in, de-identified copies out.
"""
