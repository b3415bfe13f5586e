"""The unified inbox API under ``/api/v1``: users and tokens, conversations, replies, labels, canned responses,
orders and reservations.

Wiring, done by the application factory and the command line:

* ``routes.add_routes(app)`` registers the routes (``routes.ENDPOINTS``, also the OpenAPI document).
* ``routes.job_handlers(app)`` returns the durable-queue handlers (``message.send``, ``inbox.snooze_wake``) for
  the ``JobWorker``.
* ``hooks.on_inbound_message(connection, conversation_id=..., workspace_id=..., new_conversation=...)`` is called
  by ingest, in its transaction, after it stored an inbound message: it wakes snoozed conversations and applies
  round-robin.
* ``cli.register(commands)`` adds ``partner admin create-user`` and ``partner admin create-token``.
* ``auth.authenticate(request)`` and ``auth.require_role(request, workspace_id, role)`` are for other parts' routes.
"""
