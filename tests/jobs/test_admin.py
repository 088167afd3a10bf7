"""The Django admin for jobs: list filters, search, runs inline, the cancel action."""

from apps.jobs import services
from apps.jobs.models import Job


def test_job_list_has_status_queue_and_task_type_filters(admin_client):
    services.job_create(task_type="echo")
    response = admin_client.get("/admin/jobs/job/?status__exact=pending&queue=default")
    assert response.status_code == 200
    filters = [spec.title for spec in response.context["cl"].filter_specs]
    assert filters == ["status", "queue", "task type"]
    assert response.context["cl"].result_count == 1


def test_job_list_searches_by_id(admin_client):
    wanted = services.job_create(task_type="echo")
    services.job_create(task_type="echo")
    response = admin_client.get(f"/admin/jobs/job/?q={wanted.id}")
    assert [job.id for job in response.context["cl"].result_list] == [wanted.id]


def test_recurring_job_page_shows_its_runs_inline(admin_client):
    parent = services.job_create_recurring(cron_spec="* * * * *", task_type="echo")
    child = services.job_fire_recurring(job_id=parent.id)
    response = admin_client.get(f"/admin/jobs/job/{parent.id}/change/")
    assert response.status_code == 200
    assert child.id in response.content.decode()
    plain = services.job_create(task_type="echo")
    assert (
        admin_client.get(f"/admin/jobs/job/{plain.id}/change/").context["inline_admin_formsets"]
        == []
    )


def test_cancel_action_goes_through_the_service(admin_client):
    pending = services.job_create(task_type="echo")
    recurring = services.job_create_recurring(cron_spec="* * * * *", task_type="echo")
    done = services.job_create(task_type="echo")
    Job.objects.filter(pk=done.pk).update(status="completed")
    response = admin_client.post(
        "/admin/jobs/job/",
        {"action": "cancel_jobs", "_selected_action": [pending.id, recurring.id, done.id]},
        follow=True,
    )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert messages == ["Cancelled 2 job(s).", "Skipped 1 already finished job(s)."]
    statuses = dict(Job.objects.values_list("id", "status"))
    assert statuses[pending.id] == statuses[recurring.id] == "cancelled"
    assert statuses[done.id] == "completed"
    recurring.refresh_from_db()
    assert recurring.periodic_task_id is None


def test_job_pages_are_read_only(admin_client):
    job = services.job_create(task_type="echo")
    assert admin_client.get("/admin/jobs/job/add/").status_code == 403
    response = admin_client.post(f"/admin/jobs/job/{job.id}/change/", {"status": "completed"})
    assert response.status_code == 403
    assert Job.objects.get(pk=job.pk).status == "pending"
