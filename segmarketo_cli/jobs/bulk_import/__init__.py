"""Bulk Lead Import, shared by backfill-leads and sync-audience --create-missing."""
