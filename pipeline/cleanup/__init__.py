"""`pipeline cleanup-canary`: take our pin out of the Application, restore what it replaced,
sync, and confirm the canary Deployment no longer runs the pinned digest."""
