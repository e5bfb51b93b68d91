"""Large statement uploads import in the background, with a progress bar (issue 19).

A statement of a few hundred thousand lines takes longer to import than a web request should
last (the server's time-out would cut it off and the person would see an error for work that was
rolled back). So an upload larger than ``STATEMENT_INLINE_IMPORT_BYTES`` is spooled to a private
file under ``VAR_DIR``, a :class:`~integrator.models.Job` is created and the worker imports it with
:func:`~reconciliation.services.statements.import_statement`, reporting after each batch of lines
how much of the file it has read; the page polls the Job. The spooled file is removed whatever the
outcome. Smaller uploads import within the request, as before.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import uuid
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrator.models import Job
from integrator.services import audit
from reconciliation.importers import StatementRejected
from reconciliation.models import BankAccount
from reconciliation.services.statements import ImportProgress, import_statement

__all__ = ["imports_in_background", "run_statement_import", "spool_dir", "start_statement_import"]

log = logging.getLogger(__name__)
KIND = "statement_import"


def imports_in_background(size: int) -> bool:
    """Whether an upload of ``size`` bytes is imported by the worker rather than in the request."""
    return size > settings.STATEMENT_INLINE_IMPORT_BYTES


def spool_dir() -> Path:
    """Where uploads wait for the worker (private to the integrator's processes)."""
    path = Path(settings.VAR_DIR) / "statement-uploads"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def start_statement_import(
    account: BankAccount, upload: IO[bytes], *, filename: str, fmt: str | None, size: int, actor: Any = None
) -> Job:
    """Spool an uploaded statement and queue its import; the Job (with its progress bar, in bytes
    of the file read) is returned at once."""
    path = spool_dir() / f"{uuid.uuid4().hex}.upload"
    with path.open("wb") as out:
        shutil.copyfileobj(upload, out, 1 << 20)
    name = (filename or "statement")[:120]
    try:
        with transaction.atomic():
            job = Job.objects.create(
                kind=KIND, description=f"Import {name} into {account.name}"[:255], total=size,
                message="Waiting for a worker",
            )  # fmt: skip
            audit.record("bank_statement.import_queued", object_type="integrator.Job", object_id=str(job.pk),
                         after={"bank_account": str(account.pk), "filename": name, "bytes": size},
                         actor=actor)  # fmt: skip
            from integrator.tasks import enqueue

            args = (str(job.pk), str(path), str(account.pk), name, fmt or "", getattr(actor, "pk", None))
            transaction.on_commit(lambda: enqueue("reconciliation.tasks.import_statement_job", *args))
    except Exception:
        path.unlink(missing_ok=True)
        raise
    return job


def run_statement_import(
    job_id: str, path: str, account_id: str, filename: str, fmt: str = "", user_id: Any = None
) -> Job:
    """The worker's half of :func:`start_statement_import`: import the spooled file with progress
    on the Job, then remove the file. The person who uploaded it is the import's actor."""
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.filter(pk=user_id).first() if user_id is not None else None
    spooled = Path(path)

    def progress(p: ImportProgress) -> None:
        Job.objects.filter(pk=job_id).update(done=p.bytes_read, total=p.bytes_total, message=p.text[:500])

    try:
        account = BankAccount.objects.get(pk=account_id)
        Job.objects.filter(pk=job_id).update(message="Reading the file")
        with spooled.open("rb") as stream:
            result = import_statement(
                account, stream, filename=filename, fmt=fmt or None, actor=actor, progress=progress
            )
    except StatementRejected as exc:
        _finish(job_id, "failed", f"Not imported: {exc.describe()}")
    except Exception as exc:
        log.exception("statement import %s failed", job_id)
        _finish(job_id, "failed", f"Not imported: {type(exc).__name__}: {exc}")
    else:
        if result.duplicate_of is not None:
            _finish(job_id, "done", f"{filename} was already imported: nothing imported.")
        else:
            _finish(
                job_id,
                "done",
                f"{filename}: {result.line_count:,} line(s) read, {result.new_count:,} imported, "
                f"{result.duplicate_count:,} already known, {result.error_count:,} error(s), "
                f"in {result.seconds:.0f} s.",
            )
    finally:
        with contextlib.suppress(OSError):
            spooled.unlink()
    return Job.objects.get(pk=job_id)


def _finish(job_id: str, status: str, message: str) -> None:
    """Close the Job; a finished import shows its whole file as read."""
    job = Job.objects.filter(pk=job_id)
    fields: dict[str, Any] = {"status": status, "message": message[:1000], "finished_at": timezone.now()}
    if status == "done":
        total = job.values_list("total", flat=True).first()
        fields["done"] = total or 0
    job.update(**fields)
