"""The web app's own modules beside ``app.py``: its look (:mod:`.theme`) and its running requests (:mod:`.running`)."""
