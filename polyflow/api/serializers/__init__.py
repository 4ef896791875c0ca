"""Serializers: how objects look in the API, and what request bodies may hold.
They validate shapes only; the services decide what is allowed."""
