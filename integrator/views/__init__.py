"""The finance screens (server-rendered + htmx) and the webhook receiver."""
