"""The models RadLens knows: specs, the known models from their cards, local folders, the
remote entry, memory estimates and downloads from the hub.
"""
