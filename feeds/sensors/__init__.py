"""Sensor and responder feed adapters: a utility's own JSON, FIWARE, SensorThings; the alarm engine."""
