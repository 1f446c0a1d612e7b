"""The demo city (Wuhai): simulated upstreams for every feed kind and the city's area data."""
