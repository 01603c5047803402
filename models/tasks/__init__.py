"""Clinical tasks: everything a task sends goes through :mod:`.prepare`; then ask, report,
compare and check, with the few-shot examples, the technique line and the outbound checks.
"""
