"""The emulated Marketo API: the request pipeline (gateway), identity, limits, and one module per API area."""
