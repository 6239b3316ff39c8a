"""The emulated Marketo REST endpoints, one module per area of the client's API."""
