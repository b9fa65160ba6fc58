"""Optional: the engine on a Ray cluster (``--ray``). Nothing here is imported unless asked for.

- :mod:`.connect`: join a cluster (``auto``, ``local`` or ``HOST:PORT``) with token authentication.
- :mod:`.batch`: ``stylize --ray``: the CLI's per-file function as Ray Data actors, resumable.
- :mod:`.video`: ``video --ray``: keyframe segments stylized on the cluster, joined with the audio.
- :mod:`.serve`: ``app.py --ray``: the app's work on a Ray Serve deployment of the engine.
- :mod:`.nodes`: a throw-away multi-node cluster on this machine (tests, benchmarks, trying it out).

Needs ``pip install -r requirements-ray.txt``. Deleting this package removes the capability and
nothing else.
"""
