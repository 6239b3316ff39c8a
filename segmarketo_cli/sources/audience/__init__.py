"""Audience readers: Engage CSV downloads, id-column CSVs, S3 (Actions) CSVs and audience events."""
