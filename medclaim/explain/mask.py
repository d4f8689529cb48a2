"""Person numbers as terminals, plain output, JSON and logs show them: the one masking helper of
medclaim (``medclaim.privacy``), which also masks names and ID-card numbers."""

from __future__ import annotations

from ..privacy import mask_id

__all__ = ["mask_id"]
