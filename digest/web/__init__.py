"""digest serve: the subscribe, confirm, unsubscribe and preferences pages (Starlette)."""
