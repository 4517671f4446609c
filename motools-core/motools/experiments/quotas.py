"""Provider quotas for sweeps (defined in :mod:`motools.quotas`, wired by the composer)."""

from motools.quotas import ProviderQuotas

__all__ = ["ProviderQuotas"]
