"""Cron expressions and time zones for recurring jobs.

A `cron_spec` is five fields (minute hour day-of-month month day-of-week) or one of the macros
below. It must be understood identically by croniter (which computes `next_run_at`) and by
Celery's `crontab` (which django-celery-beat uses to fire), so both parse it; when day-of-month
and day-of-week are both restricted, both must match (Celery's rule; croniter with day_or=False).
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery.schedules import crontab
from croniter import croniter

MACROS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
}
DEFAULT_TIMEZONE = "UTC"


@dataclass(frozen=True)
class CronFields:
    minute: str
    hour: str
    day_of_month: str
    month_of_year: str
    day_of_week: str

    @property
    def expression(self) -> str:
        return " ".join(
            (self.minute, self.hour, self.day_of_month, self.month_of_year, self.day_of_week)
        )


def parse_cron(spec: str) -> CronFields:
    """The five fields of a cron spec; ValueError when croniter or Celery would reject it."""
    if not isinstance(spec, str):
        raise ValueError("cron spec must be a string")
    text = MACROS.get(spec.strip().lower(), spec.strip())
    parts = text.split()
    if len(parts) != 5:
        raise ValueError("a cron spec has five fields")
    # Sunday may be written 7 (cron) but Celery only knows 0.
    day_of_week = ",".join("0" if item == "7" else item for item in parts[4].split(","))
    fields = CronFields(parts[0], parts[1], parts[2], parts[3], day_of_week)
    if not croniter.is_valid(fields.expression):
        raise ValueError("croniter rejects the expression")
    try:
        crontab(
            minute=fields.minute,
            hour=fields.hour,
            day_of_month=fields.day_of_month,
            month_of_year=fields.month_of_year,
            day_of_week=fields.day_of_week,
        )
    except (ValueError, TypeError, IndexError) as exc:
        raise ValueError(f"Celery rejects the expression: {exc}") from None
    return fields


def cron_is_valid(spec) -> bool:
    try:
        parse_cron(spec)
    except ValueError:
        return False
    return True


def parse_timezone(name: str) -> ZoneInfo:
    """An IANA time zone; ValueError for anything else."""
    if not isinstance(name, str) or not name or len(name) > 64:
        raise ValueError("invalid time zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError("invalid time zone") from None


def timezone_is_valid(name) -> bool:
    try:
        parse_timezone(name)
    except ValueError:
        return False
    return True


def _iterator(spec: str, timezone_name: str, moment: datetime) -> croniter:
    zone = parse_timezone(timezone_name or DEFAULT_TIMEZONE)
    return croniter(parse_cron(spec).expression, moment.astimezone(zone), day_or=False)


def next_fire_after(spec: str, timezone_name: str, moment: datetime) -> datetime:
    """The first slot strictly after `moment`, computed in the job's time zone (DST-aware)."""
    return _iterator(spec, timezone_name, moment).get_next(datetime).astimezone(UTC)


def slot_at_or_before(spec: str, timezone_name: str, moment: datetime) -> datetime:
    """The latest slot at or before `moment`."""
    later = moment + timedelta(microseconds=1)
    return _iterator(spec, timezone_name, later).get_prev(datetime).astimezone(UTC)
