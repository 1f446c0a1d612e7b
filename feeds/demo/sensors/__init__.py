"""The demo city's sensor platform: pipe networks, sensors, incidents, its HTTP and SensorThings views."""
