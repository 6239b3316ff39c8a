"""Segment traits -> Marketo lead fields: catalog (Describe), coercion, per-shape plans."""
