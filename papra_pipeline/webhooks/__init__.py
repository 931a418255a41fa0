"""Papra webhooks end to end: the receiver that stores deliveries in the inbox, and the
registration of that receiver on Papra. Imports the client and the warehouse's inbox only."""

SECRET_ENV = "PAPRA_WEBHOOK_SECRET"
DELIVERY_PATH = "/webhooks/papra"
