"""The one pipeline every front end uses, one concept per module, dependencies pointing down.

``request`` (what a front end hands in) <- ``candidates`` (the ranked nodes for it) and
``context_window`` (what the chosen node's loaded window allows) <- ``routed`` (an answer that has
begun, closed through the ``Finisher`` it is given) <- ``dispatch`` (``Pipeline``: choose, take a
slot, forward, retry, record). ``pulls`` (auto-pull, pull and delete on nodes) and ``journal``
(where a finished attempt is recorded) sit beside them; none of them imports ``dispatch``.
"""
