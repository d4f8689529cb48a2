"""`medclaim explain`: one person's year, step by step (registered on the main app)."""
