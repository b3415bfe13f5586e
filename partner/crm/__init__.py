"""Outbound webhooks to an advertiser's CRM. (Being built.)"""
