"""`pipeline poll`: one registry check per distinct image, then pin, sync and verify."""
