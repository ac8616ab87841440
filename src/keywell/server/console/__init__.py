"""The key server's web console at ``/console``: key sets, timeline, debugger, lint, audit.

Server-rendered HTML (:mod:`.markup` escapes every value), one packaged
script that refreshes a key set's live part in place, sessions held by the
server (:mod:`.sessions`). See ``docs/console.md``.
"""

from keywell.server.console.routes import CSP, Console
from keywell.server.console.sessions import Sessions

__all__ = ["CSP", "Console", "Sessions"]
