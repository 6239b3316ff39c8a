"""`segmarketo apply-events`: Segment track events -> Marketo scores, statuses, campaigns."""
