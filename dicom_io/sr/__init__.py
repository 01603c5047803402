"""DICOM Structured Reports: a draft report written as a Comprehensive SR document.

- :mod:`.content`: what the document says, as plain data.
- :mod:`.tree`: its content tree, built with highdicom.
- :mod:`.document`: the whole document, pointing at its source images.
"""
