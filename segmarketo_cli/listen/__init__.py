"""`segmarketo listen`: a durable receiver for Segment's Webhooks destination, drained in micro-batches."""
