"""The Discord front end: the only package in ``bot`` that imports discord (with ``cogs``).

``app`` (the client on a ``Services``), ``pipeline`` (the path every interaction-driven
job takes), ``buttons`` and ``components`` (persistent buttons, the edit modal, stale
forms), ``sources`` (attachments and embeds), ``delivery`` (posting), ``access`` (who may
use the bot where) and ``errors`` (the one error reporter).
"""
