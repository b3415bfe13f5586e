"""TikTok for Business advertiser authorization: connect a workspace to an ad account and an event set.

``oauth.routes.add_routes(app)`` mounts the browser flow (``/oauth/tiktok/...``) and the admin API
(``/api/v1/tiktok/connection``). Access tokens are stored only encrypted (``partner.crypto.SecretBox``) in
``tiktok_connections`` and, once an event set is chosen, in the workspace's ``reporting_configs`` row, which is what
the outbox sender reads.
"""
