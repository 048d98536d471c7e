"""``luxtts wyoming``: the voice library spoken over the Wyoming protocol, for Home Assistant (extra ``[wyoming]``).

A thin adapter, like the HTTP server: the same ``LuxTTS``, voice library and scheduler (luxtts.server.state), one
event handler per connection (handler.py). Nothing here is imported by ``import luxtts``.
"""
