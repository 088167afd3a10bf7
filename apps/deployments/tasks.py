from celery import shared_task

from codeai.celery import RETRY_WHILE_DATABASE_UNREACHABLE


@shared_task(
    name="deployments.execution_run", ignore_result=True, **RETRY_WHILE_DATABASE_UNREACHABLE
)
def execution_run_task(execution_id: str) -> None:
    from .services import execution_run

    execution_run(execution_id=execution_id)


@shared_task(name="deployments.sweep", ignore_result=True)
def executions_sweep_task() -> None:
    """Beat, every 15 s: lost execution messages and lost workers."""
    from .services import executions_sweep

    executions_sweep()
