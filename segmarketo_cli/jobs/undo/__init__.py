"""`segmarketo runs undo`: reverse what a run wrote to Marketo, where Marketo still holds it."""
