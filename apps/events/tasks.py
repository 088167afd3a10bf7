from celery import shared_task


@shared_task(name="events.dispatch", ignore_result=True)
def event_dispatch(event_id: str) -> None:
    """Fan one event out to its webhook subscribers."""
    from .services import event_fan_out

    event_fan_out(event_id=event_id)
