"""What a model is shown: the images for a series (2D images, 3D slice plans), the mapping
back to source pixels, what they cost in tokens, and the chat messages that carry them.

Everything family-specific (geometry, token cost, label tokens, slice budget, overflow advice)
is asked of the family adapter (:mod:`models.families`); nothing here branches on a family.
"""
