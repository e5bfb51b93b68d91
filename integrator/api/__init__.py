"""The REST API (/api/v1/): serializers, viewsets, permissions, urls."""
