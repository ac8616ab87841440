"""Key custody: where a key set's private keys live (the database, an HSM, a KMS).

See :mod:`keywell.custody.base` for the contract and :mod:`keywell.custody.uri`
for the URIs that name a custody.
"""

from keywell.custody.base import Custody, CustodyKey, SignFn
from keywell.custody.uri import DB, CustodySpec, close_all, open_custody, parse_custody

__all__ = [
    "DB",
    "Custody",
    "CustodyKey",
    "CustodySpec",
    "SignFn",
    "close_all",
    "open_custody",
    "parse_custody",
]
