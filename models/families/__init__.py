"""Model families: one module per architecture, each the single home of that family's facts
(image geometry, token cost, slice budget, message layout, box conventions, modules kept
unquantized, processor quirks, decoding defaults).
"""
