"""Reporting conversation outcomes to TikTok's Events API: hashing, event building, the API client."""
