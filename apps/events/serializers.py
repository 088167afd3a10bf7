from rest_framework import serializers

from .models import Event


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["id", "type", "source", "timestamp", "data", "metadata"]


class EventTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    description = serializers.CharField()
    category = serializers.CharField()


class EventStatsSerializer(serializers.Serializer):
    total_events = serializers.IntegerField()
    by_type = serializers.DictField(child=serializers.IntegerField())
    by_source = serializers.DictField(child=serializers.IntegerField())
