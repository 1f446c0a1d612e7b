"""The area tree feed: a CSV of codes and a GeoJSON of boundaries."""
