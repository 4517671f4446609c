"""Never pay twice: the local store, cache keys, and caching wrappers for any backend."""

from motools.cache.backends import CachedEvalBackend, CachedTrainingBackend
from motools.cache.keys import eval_key_fields, key_of, training_key_fields
from motools.cache.store import Record, Store, StoreError, close_stores, default_home, open_store

__all__ = [
    "CachedEvalBackend",
    "CachedTrainingBackend",
    "Record",
    "Store",
    "StoreError",
    "close_stores",
    "default_home",
    "eval_key_fields",
    "key_of",
    "open_store",
    "training_key_fields",
]
