"""`segmarketo writeback`: Marketo activity -> Segment track events."""
