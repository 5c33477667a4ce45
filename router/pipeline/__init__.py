"""The one pipeline every front end uses, one concept per module, dependencies pointing down.

``request`` (what a front end hands in) <- ``candidates`` (the ranked nodes for it),
``context_window`` (what the chosen node's loaded window allows) and ``wait_line`` (where a request
waits for its best node) <- ``routed`` (an answer that has begun, closed through the ``Finisher``
it is given) <- ``forward`` (one attempt on one node, in its backend's terms), ``substitutes`` (a
larger-window sibling or a VRAM stand-in), ``refusals`` (why nothing served) and
``attempt_traces`` (the trace row of every attempt) <- ``dispatch`` (``Pipeline``: choose, take a
slot, forward, retry, record). ``pulls`` (auto-pull, pull and delete on nodes) and ``journal``
(where a finished attempt is recorded) sit beside them; none of them imports ``dispatch``.
"""
