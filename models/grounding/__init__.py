"""Grounding: the boxes a model wrote, found in its text whatever the convention, and put back
on the source slice in source pixels.

- :mod:`.box`: a box on a source slice.
- :mod:`.conventions`: how each family writes a box.
- :mod:`.parsers`, :mod:`.markup`, :mod:`.lenient_json`: finding the boxes in text.
- :mod:`.placement`: boxes back onto source slices.
"""
