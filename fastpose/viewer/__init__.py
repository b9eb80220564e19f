"""The Rerun viewers a recording can go to, one job a module (the target itself, a file or a viewer,
is fastpose.target's :class:`~fastpose.target.RerunTarget`):

    probe.py   before any work: a --connect URL's form, an HTTP/2 (gRPC) handshake, a display
    stream.py  opening a recording's stream, flushing and closing it in bounded time, giving up
               on a stuck one
    abandoned.py  the streams given up on, kept until the process ends (``Abandoned``)
    serve.py   --serve: a ``rerun --serve-web`` process (``ServedViewer``)
    keeper.py  the process that ends that server with fastpose's (``python -m``)

Rerun's own calls wait for ever on a viewer that accepts a connection and never answers (its
``disconnect`` and its at-exit flush block, deaf to signals), and fail only after seconds on one
that is not there: every call to a viewer here is bounded in time. This ``__init__`` imports
nothing, so the keeper (run with ``-I -S``) loads nothing of fastpose's.
"""
