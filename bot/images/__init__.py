"""Pure Pillow functions, bytes in, bytes out, by direction.

Every public function is synchronous, top-level and picklable: callers run them in
``bot.workers.CpuPool`` (by module path, so callers name the module that defines one)
because Pillow's codecs hold the GIL for long stretches.

- ``sniff``: the real format from the magic bytes, before any decoder runs;
- ``inputs``: attachments validated and normalised (``prepare_input``), made to fit one
  request (``fit_request``) and written into it (``data_uri``);
- ``outputs``: gateway images checked from headers (``inspect_output``) and, only when
  over Discord's upload cap, re-encoded once at a planned quality (``fit_for_upload``);
- ``codec`` and ``jpeg``: the guarded open, mode normalisation and encoders both share.
"""
