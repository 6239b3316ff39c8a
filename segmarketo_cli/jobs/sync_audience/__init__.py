"""`segmarketo sync-audience`: a Segment audience -> a Marketo static list."""
