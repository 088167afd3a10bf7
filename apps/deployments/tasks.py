from celery import shared_task


@shared_task(name="deployments.execution_run", ignore_result=True)
def execution_run_task(execution_id: str) -> None:
    from .services import execution_run

    execution_run(execution_id=execution_id)
