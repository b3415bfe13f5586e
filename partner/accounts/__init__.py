"""Users, roles and API tokens: authentication and authorisation for every part of the service."""
