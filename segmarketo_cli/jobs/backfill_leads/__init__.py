"""`segmarketo backfill-leads`: Segment identify exports -> Marketo lead upserts."""
