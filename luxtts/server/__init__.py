"""``luxtts serve``: an OpenAI-compatible speech server (extra ``[server]``).

Nothing here is imported by ``import luxtts``; :func:`luxtts.server.app.create_app` builds the ASGI app.
"""
