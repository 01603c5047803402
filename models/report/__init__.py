"""The draft report as data (:mod:`.draft`), read from a model's text (:mod:`.text`), edited by
the clinician (:mod:`.revision`) and exported (:mod:`.exports`).
"""
