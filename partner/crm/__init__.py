"""Outbound webhooks to an advertiser's CRM: admins subscribe a URL to inbox events; each event is queued in the
transaction of its cause, POSTed signed (``X-Partner-Signature``), retried through the durable queue, and every
attempt is kept for the admin to see.

Modules: ``models`` (tables), ``schemas`` (API models), ``subscriptions`` and ``deliveries`` (API handlers),
``emit`` (queueing events, called by the inbox and the analysis follower), ``delivery`` (the ``crm.deliver`` job),
``signing`` (the signature scheme, and the check a receiver runs), ``routes`` (wiring).
"""
